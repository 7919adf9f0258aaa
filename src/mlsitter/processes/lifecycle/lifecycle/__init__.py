"""The ``lifecycle`` process: the other processes chained as child runs, in the order a YAML file gives."""
