import pytest

from tests.worlds import clustered_world


@pytest.fixture(scope="session")
def toy_data():
    return clustered_world()
