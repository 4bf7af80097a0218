"""Running the engine over many files and machines: shard planning, the Dask task
graph, merging of part files, and the `clearance` command line."""
