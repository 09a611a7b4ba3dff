"""Settings read once from the environment; every rule default lives in DOMAIN.md."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    redis_url: str | None
    var_dir: Path
    host: str
    port: int
    acceleration: int
    secret_key: str
    secure_cookies: bool
    load_demo: bool
    feed_port: int = 0  # 0: the HTTP port + 1
    feed_url: str | None = None
    engine_host: str = "127.0.0.1"  # EXCHANGE_ENGINE_HOST: where the engine listens for gateways
    engine_port: int = 0  # EXCHANGE_ENGINE_PORT; 0: the HTTP port + 2
    engine_address: str | None = None  # EXCHANGE_ENGINE_ADVERTISE: host:port gateways use to reach it
    auction_notice_days: int = 7  # EXCHANGE_AUCTION_NOTICE_DAYS: the auction notice precedes the start
    migrations_dir: Path = field(default=PROJECT_ROOT / "migrations")

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(os.environ.get("EXCHANGE_VAR_DIR", str(Path.cwd() / "var"))).resolve()
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            var_dir=var_dir,
            host=os.environ.get("EXCHANGE_HOST", "127.0.0.1"),
            port=_env_int("EXCHANGE_PORT", 8000),
            acceleration=max(1, _env_int("EXCHANGE_ACCELERATION", 1)),
            secret_key=os.environ.get("EXCHANGE_SECRET_KEY") or _persistent_secret(var_dir),
            secure_cookies=_env_bool("EXCHANGE_SECURE_COOKIES", False),
            load_demo=_env_bool("EXCHANGE_LOAD_DEMO", True),
            feed_port=_env_int("EXCHANGE_FEED_PORT", 0),
            feed_url=os.environ.get("EXCHANGE_FEED_URL") or None,
            engine_host=os.environ.get("EXCHANGE_ENGINE_HOST", "127.0.0.1"),
            engine_port=_env_int("EXCHANGE_ENGINE_PORT", 0),
            engine_address=os.environ.get("EXCHANGE_ENGINE_ADVERTISE") or None,
            auction_notice_days=max(0, _env_int("EXCHANGE_AUCTION_NOTICE_DAYS", 7)),
        )


@dataclass(frozen=True)
class SettlementAccount:
    """The exchange's settlement bank account (结算账户), which investors pay deposits and balances into."""

    bank_name: str = "中国工商银行北京中关村支行 ICBC Beijing Zhongguancun Branch"
    account_name: str = "科技成果交易所有限公司 Technology Transfer Exchange Co., Ltd. (demo)"
    account_no: str = "0200 0000 0000 0000 000"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SettlementAccount:
        base = cls()
        return cls(
            bank_name=environ.get("EXCHANGE_BANK_NAME", "").strip() or base.bank_name,
            account_name=environ.get("EXCHANGE_BANK_ACCOUNT_NAME", "").strip() or base.account_name,
            account_no=environ.get("EXCHANGE_BANK_ACCOUNT_NO", "").strip() or base.account_no,
        )


def _persistent_secret(var_dir: Path) -> str:
    """A random key kept under var/ so sessions survive restarts without configuration."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
