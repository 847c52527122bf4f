"""The test bench's own tests: pytester runs pytest inside them."""

pytest_plugins = ["pytester"]
