pytest_plugins = ["tests.fixtures.clusters"]
