"""TLS on the Ray Client and GCS ports, as Ray reads it (RAY_USE_TLS and the RAY_TLS_* files): the ``tls`` check."""
