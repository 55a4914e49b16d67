"""Reading an account's ``state.db`` without writing anything next to it.

SQLite in WAL mode creates ``-wal``/``-shm`` files when a database is opened, even read-only. A
reader of another account's database (the dashboard, ``stockbot status``, a live account reading
its paper account's validation record) must leave that account's directory untouched: when the
owner's daemon is running those files exist and are shared; when it is not, the reader works on a
private copy outside every account directory.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from stockbot.config import account_paths, accounts_root
from stockbot.store import Store, StoreError, iter_account_dbs


@contextmanager
def readonly_store(db: Path) -> Iterator[Store]:
    """The account's store, read-only, without creating any file next to it (see module doc)."""
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    if wal.exists() and shm.exists():
        store = Store(db, readonly=True)
        try:
            yield store
        finally:
            store.close()
        return
    if not db.exists():
        raise StoreError(f"{db}: no state database yet")
    with tempfile.TemporaryDirectory(prefix="stockbot-dashboard-") as tmp:
        copy = Path(tmp) / db.name  # a private snapshot, outside every account dir
        shutil.copyfile(db, copy)  # no -wal file: every committed page is in the main file
        try:
            store = Store(copy, readonly=True)
        except StoreError as exc:  # the operator must see the account's file, not our temp copy
            raise StoreError(str(exc).replace(str(copy), str(db))) from exc
        try:
            yield store
        except StoreError as exc:
            raise StoreError(str(exc).replace(str(copy), str(db))) from exc
        finally:
            store.close()


def known_accounts() -> list[str | None]:
    """The default account (if it has state) plus every account directory under the root."""
    accounts: list[str | None] = []
    if account_paths(None)["state_db"].exists():
        accounts.append(None)
    accounts.extend(acc for acc, _ in iter_account_dbs(accounts_root()))
    return accounts
