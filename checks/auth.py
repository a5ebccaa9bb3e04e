"""Ray token authentication (Ray 2.52+), as Ray reads it: the ``auth`` check."""
