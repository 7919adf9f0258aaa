"""What two or more built-in processes run: shared tasks (each keeps the stable journal name it was
given where it was first written, so moving it here changed no journal) and small orchestration helpers.
Pure building blocks live in ``mlsitter.ml``; this package is for what needs the runtime."""
