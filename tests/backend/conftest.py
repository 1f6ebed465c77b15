from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.servers import USERS, legacy_built, seed


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npx") is None or not (Path("legacy") / "node_modules").is_dir():
        pytest.skip("the legacy seed needs `npm ci` in legacy/")
    path = tmp_path_factory.mktemp("seed") / "template.db"
    seed(path, "--cases", "80", "--alerts", "60", "--feed", "30")
    return path


@pytest.fixture
def db_path(seeded_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "port.db"
    shutil.copyfile(seeded_template, path)
    return path


@pytest.fixture
def client(db_path: Path) -> Iterator[TestClient]:
    from backend import db, settings

    os.environ["DATABASE_PATH"] = str(db_path)
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    db._sessionmaker.cache_clear()
    from backend.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1", follow_redirects=False) as c:
        c.cookies.clear()
        yield c
    db.get_engine().dispose()
    db.get_engine.cache_clear()
    db._sessionmaker.cache_clear()
    settings.get_settings.cache_clear()


@pytest.fixture
def auth(client: TestClient) -> dict[str, dict[str, str]]:
    headers = {}
    for role, (email, password) in USERS.items():
        res = client.post("/api/auth/login", json={"email": email, "password": password})
        assert res.status_code == 200, res.text
        headers[role] = {"Authorization": f"Bearer {res.json()['token']}"}
    client.cookies.clear()  # each test says how it authenticates
    return headers


requires_legacy = pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)")
