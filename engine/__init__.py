"""The single-process kernel of Clearance: the DOJ research-file format, person
histories, Prop 64 decisions and the writers of each output.

Every module here works on in-memory batches and never imports dask or distributed,
so the engine can be used and tested without a cluster.
"""

__version__ = "0.1.0"
