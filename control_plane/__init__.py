"""edgefill control plane: one FastAPI app per service, run in Lambda or locally under uvicorn."""
