import pytest

from harness import Instance


@pytest.fixture
def instance():
    """A fresh, running development instance (daemon + managed broker)."""
    inst = Instance()
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


@pytest.fixture
def stopped_instance():
    """An initialised instance whose daemon is not started yet."""
    inst = Instance()
    try:
        yield inst
    finally:
        inst.cleanup()
