"""Background work: the job runner and folder contract, the job bodies, the compute slot."""
