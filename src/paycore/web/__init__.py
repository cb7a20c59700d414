"""FastAPI application assembly: routers, problem+json errors, lifespan."""
