"""HTTP routers, one module per area; each is included by ``api/app.py``."""
