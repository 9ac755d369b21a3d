from tests.edge.lockers.conftest import app_client  # noqa: F401 - the same app fixture
