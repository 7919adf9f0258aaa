from mlsitter.cli import main

main()
