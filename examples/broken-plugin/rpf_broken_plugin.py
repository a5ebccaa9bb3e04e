"""A plugin whose import fails (a missing dependency), for the tests."""

import rpf_dependency_that_is_not_installed  # noqa: F401
