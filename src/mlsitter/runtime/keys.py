"""The journal key: the secret that keys the hash chain and signs digests, kept outside the store.

Looked up in ``$MLSITTER_JOURNAL_KEY`` (the key itself, hex), then ``$MLSITTER_JOURNAL_KEY_FILE`` (a file
holding it), then ``$XDG_CONFIG_HOME/mlsitter/keys/<store id>.key`` (``~/.config`` by default), which is
created with mode 0600 the first time a new store needs a key. Someone who can write the store but cannot
read this file cannot forge a chain, a run's head or a digest.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlsitter.errors import JournalKeyError

KEY_ENV = "MLSITTER_JOURNAL_KEY"
KEY_FILE_ENV = "MLSITTER_JOURNAL_KEY_FILE"
_MIN_BYTES = 16


@dataclass(frozen=True)
class JournalKey:
    """A journal key and where it was found (``source`` names the variable or file, never the secret)."""

    secret: bytes
    source: str

    @property
    def key_id(self) -> str:
        """A public fingerprint: tells which key a store was chained with without revealing it."""
        return self.mac("mlsitter key id")[:16]

    def mac(self, *parts: str | int) -> str:
        """HMAC-SHA256 (hex) of the parts joined by newlines."""
        text = "\n".join(str(p) for p in parts)
        return hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def default_key_path(store_id: str) -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "mlsitter" / "keys" / f"{store_id}.key"


def load_key(store_id: str, *, create: bool) -> JournalKey:
    """The store's key from the environment or its key file; a missing file is created only when ``create``."""
    value = os.environ.get(KEY_ENV)
    if value:
        return JournalKey(_decode(value, KEY_ENV), KEY_ENV)
    named = os.environ.get(KEY_FILE_ENV)
    path = Path(named).expanduser() if named else default_key_path(store_id)
    if not path.exists():
        if named or not create:
            where = f"{KEY_FILE_ENV}={named}" if named else str(path)
            raise JournalKeyError(
                f"the journal key of this store is not at {where}. The store's chain can only be verified and "
                f"extended with the key it was made with: point {KEY_FILE_ENV} at that key file, or set {KEY_ENV}."
            )
        _create(path)
    return JournalKey(_read(path), str(path))


def key_from_file(path: Path) -> JournalKey:
    """The key held in ``path`` (a key file handed over for checking offline), refused if others may read it."""
    if not path.is_file():
        raise JournalKeyError(f"journal key file {path} does not exist")
    return JournalKey(_read(path), str(path))


def _create(path: Path) -> None:
    """Write a new random key, complete, then link it into place: a process racing to create the same key
    either wins or reads the winner's whole file, never a half-written one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-key-")
    except OSError as exc:
        raise JournalKeyError(
            f"cannot create the journal key at {path}: {exc.strerror}; set {KEY_ENV} or {KEY_FILE_ENV} instead"
        ) from None
    try:
        with os.fdopen(fd, "w") as fh:  # mkstemp made it 0600
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process created it first; use theirs
            pass
    finally:
        os.unlink(tmp)


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise JournalKeyError(
            f"journal key file {path} can be read by other users (mode {stat.filemode(mode)}); "
            f"run `chmod 600 {path}`"
        )
    return _decode(path.read_text(encoding="utf-8").strip(), str(path))


def _decode(text: str, source: str) -> bytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        raise JournalKeyError(f"the journal key in {source} is not hexadecimal text") from None
    if len(secret) < _MIN_BYTES:
        raise JournalKeyError(f"the journal key in {source} is {len(secret)} bytes; at least {_MIN_BYTES} are needed")
    return secret
