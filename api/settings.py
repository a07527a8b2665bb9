"""Settings: every knob is an environment variable (``DESKMATE_*``), documented in docs/configuration.md."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api import keyfile
from api.channels.email.settings import EmailSettings
from api.channels.slack.settings import SlackSettings
from api.channels.teams.settings import TeamsSettings
from api.integrations.ldap.settings import LdapSettings
from api.integrations.outbound import OutboundSettings
from api.integrations.smtp.settings import SmtpSettings
from api.integrations.sync.settings import SyncSettings
from api.integrations.twilio.settings import TwilioSettings
from api.integrations.webhooks.settings import WebhookSettings
from api.stepup.settings import StepUpSettings
from api.web.signin.settings import OidcSettings, WebSettings
from api.workflows.settings import EndpointSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DESKMATE_", env_ignore_empty=True, extra="ignore", env_file=".env"
    )

    env: Literal["development", "test", "production"] = "development"
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "DESKMATE_DATABASE_URL")
    )
    data_dir: Path = REPO_ROOT / "var"
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    auto_migrate: bool = True
    # operations: pool waits, rate limits, retention (api/ratelimit.py, api/retention) — docs/operations.md
    db_acquire_timeout_s: float = Field(default=5.0, gt=0)
    metrics_token: SecretStr | None = None  # GET /metrics wants it as a bearer token; unset: /metrics is off
    chat_start_per_address_per_minute: int = Field(default=60, ge=1)
    chat_start_per_minute: int = Field(default=600, ge=1)
    retention_chat_days: int = Field(default=90, ge=1)
    retention_idempotency_hours: int = Field(default=24, ge=1)
    retention_kb_answers_days: int = Field(default=365, ge=1)
    retention_notifications_days: int = Field(default=90, ge=1)
    retention_alerts_days: int = Field(default=90, ge=1)
    retention_jobs_days: int = Field(default=14, ge=1)
    retention_channel_inbound_days: int = Field(default=7, ge=1)
    retention_batch_size: int = Field(default=1000, ge=1, le=100_000)
    migrations_dir: Path = REPO_ROOT / "migrations"
    demo_data: Path = REPO_ROOT / "data" / "demo" / "org.yml"
    # keys and tokens (api/crypto, api/chat/identity, api/auth) — docs/security.md
    encryption_keys: SecretStr | None = None  # Fernet keys, comma-separated, newest first
    session_keys: SecretStr | None = None  # chat session signing keys, comma-separated, newest first
    widget_site_keys: SecretStr | None = None  # site:kid:secret, comma-separated, newest first per site
    widget_default_site: str | None = None
    token_expiry_days: int = Field(default=90, ge=1, le=3650)
    service_token_expiry_days: int = Field(default=0, ge=0, le=3650)  # 0: service tokens never expire
    # conversation (api/chat) — docs/chat.md
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)  # several Rasa servers; default: rasa_url
    rasa_token: SecretStr | None = None
    nlu_hints: bool = True  # the gateway's embedding classifier as a second opinion for Rasa (docs/bot.md)
    nlu_hints_refresh_s: float = Field(default=60.0, gt=0)  # the hints follow the promoted model (docs/improving.md)
    # Timeouts nest, each hop shorter than its caller's (checked below): LLM (with its retries) < action → api
    # < Rasa → action server < gateway → Rasa. A slow answer then shows as slow, never as "restarting".
    rasa_timeout_s: float = Field(default=30.0, gt=0)
    rasa_action_timeout_s: float = Field(default=25.0, gt=0)
    actions_api_timeout_s: float = Field(default=20.0, gt=0)
    # trust between the bot processes — docs/security.md
    assertion_key: SecretStr | None = None
    rasa_channel_secret: SecretStr | None = None
    actions_secret: SecretStr | None = None
    chat_max_chars: int = Field(default=1000, ge=1, le=10_000)
    chat_rate_per_minute: int = Field(default=30, ge=1)
    chat_session_hours: int = Field(default=24, ge=1)
    widget_demo_email: str | None = "jordan.blake@example.com"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # knowledge base (api/kb, kb_index) — docs/knowledge.md
    kb_dir: Path = REPO_ROOT / "data" / "kb"
    kb_embed_batch_size: int = Field(default=32, ge=1, le=512)
    kb_preload_model: bool = False
    kb_answer_sources: int = Field(default=4, ge=1, le=10)
    kb_min_similarity: float = Field(default=0.35, ge=0, le=1)
    kb_confident_similarity: float = Field(default=0.5, ge=0, le=1)
    kb_trends_min_size: int = Field(default=2, ge=2, le=100)
    # retrieval (docs/knowledge.md "Models" and "Intents"): the KB's embedding model ("all-MiniLM-L6-v2", bundled,
    # or the path of a sentence-transformers directory; change it with `deskmate kb reembed`), the intent map
    kb_embed_model: str = "all-MiniLM-L6-v2"
    # how the model runs: "torch" (sentence-transformers) or "onnx" (its int8 ONNX export under kb_onnx_dir, made
    # by `make model`; torch when missing). torch by default until the me-too threshold is tuned for onnx
    # (docs/knowledge.md "Embedding backends")
    kb_embed_backend: Literal["onnx", "torch"] = "torch"
    kb_onnx_dir: Path = REPO_ROOT / "var" / "onnx"
    kb_search_mode: Literal["hybrid", "vector"] = "hybrid"
    kb_intents_file: Path = REPO_ROOT / "data" / "kb" / "intents.yml"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=8.0, gt=0)
    llm_max_retries: int = Field(default=1, ge=0, le=5)
    llm_temperature: float = Field(default=0.1, ge=0, le=2)
    llm_max_tokens: int = Field(default=400, ge=16)
    llm_token_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # triage: classification, routing, SLAs, alerts, the job worker (api/routing, api/sla, api/alerts, api/jobs)
    # — docs/triage.md
    triage_enabled: bool = True
    triage_min_confidence: float = Field(default=0.35, ge=0, le=1)
    routing_fallback_team: str | None = "service-desk"
    alerts_dedup_window_s: int = Field(default=300, ge=0)
    alerts_max_attempts: int = Field(default=6, ge=1, le=50)
    alerts_backoff_base_s: float = Field(default=10.0, ge=0)
    alerts_backoff_max_s: float = Field(default=3600.0, ge=0)
    alerts_lease_s: float = Field(default=300.0, gt=0)
    alerts_template_max_bytes: int = Field(default=65_536, ge=1024, le=1_048_576)
    # CSAT: the requester of a resolved ticket rates it 1-5 where the ticket came from (api/csat) — docs/csat.md
    csat_enabled: bool = True
    csat_delay_s: float = Field(default=60.0, ge=0, le=86_400)  # after the resolution, so its update comes first
    csat_link_days: int = Field(default=14, ge=1, le=365)  # how long the e-mail's rating links work
    # me too: a chat report linked to a known issue instead of a duplicate ticket (api/incidents) — docs/tickets.md
    metoo_enabled: bool = True
    metoo_threshold: int = Field(default=3, ge=2, le=1000)  # reports within the window that make a major incident
    metoo_window_hours: float = Field(default=4.0, gt=0, le=720)
    metoo_min_similarity: float = Field(default=0.70, ge=0, le=1)
    # step-up identity check before sensitive workflow steps (api/stepup), its own env prefix — docs/stepup.md
    stepup: StepUpSettings = Field(default_factory=StepUpSettings)
    # outside systems (api/integrations), each with its own env prefix — docs/configuration.md
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    ldap: LdapSettings = Field(default_factory=LdapSettings)  # the directory connector — docs/directory.md
    slack: SlackSettings = Field(default_factory=SlackSettings)  # the Slack channel — docs/channels.md#slack
    teams: TeamsSettings = Field(default_factory=TeamsSettings)  # the Microsoft Teams channel — docs/channels.md#microsoft-teams
    email: EmailSettings = Field(default_factory=EmailSettings)  # the e-mail channel — docs/channels.md#e-mail
    sync: SyncSettings = Field(default_factory=SyncSettings)  # GLPI and other service desks — docs/integrations/glpi.md
    # signing in to the web pages (api/web/signin) — docs/console.md#signing-in
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    # `deskmate run`: the port of the demo directory (slapd) it starts when DESKMATE_LDAP_URL is unset
    demo_ldap_port: int = Field(default=3389, ge=1, le=65535)
    demo_smtp_port: int = Field(default=1025, ge=1, le=65535)
    demo_imap_port: int = Field(default=1143, ge=1, le=65535)  # the demo desk mailbox (Dovecot), api/dev/imap.py
    demo_redis_port: int = Field(default=6379, ge=1, le=65535)  # Rasa's lock store with --replicas rasa=N
    actions_port: int = Field(default=5055, ge=1, le=65535)  # the action server(s) `deskmate run` starts
    worker_concurrency: int = Field(default=4, ge=1, le=100)
    worker_heartbeat_s: float = Field(default=10.0, gt=0)
    worker_stalled_s: float = Field(default=60.0, gt=0)
    worker_reconnect_max_s: float = Field(default=300.0, gt=0)  # give up (exit 1) after the db is gone this long
    worker_reconnect_backoff_max_s: float = Field(default=10.0, gt=0)  # longest wait between reconnect attempts
    # auto-resolution workflows (api/workflows) — docs/workflows.md
    workflows_dir: Path = REPO_ROOT / "data" / "workflows"
    workflow_step_attempts: int = Field(default=5, ge=1, le=50)  # attempts of a failing step before the run stops
    workflow_backoff_base_s: float = Field(default=2.0, ge=0)  # retry n waits base × 2^(n − 1) seconds …
    workflow_backoff_max_s: float = Field(default=300.0, ge=0)  # … capped at this
    workflow_approval_key: SecretStr | None = None  # signs approve/deny links; default: from the secret key
    workflow_step_up_timeout_s: float = Field(default=900.0, gt=0)  # a step-up step waits this long for a pass
    workflow_endpoints: dict[str, EndpointSettings] = Field(default_factory=dict)  # http steps' APIs, by name (JSON)
    # the closed loop: failed chats -> proposals -> candidate models (api/improve, docs/improving.md)
    improve_models_dir: Path | None = None  # default <data_dir>/models
    improve_train_config: Path = REPO_ROOT / "bot" / "config.yml"
    improve_rasa_venv: Path = REPO_ROOT / ".venv-rasa"
    improve_tolerance: float = Field(default=0.02, ge=0, le=0.5)  # a metric may drop this much (or one case)
    improve_significance: float = Field(default=0.05, gt=0, le=1)  # ... unless the sign test says it is no chance
    improve_low_confidence: float = Field(default=0.5, ge=0, le=1)
    improve_cluster_threshold: float = Field(default=0.5, ge=0, le=1)
    improve_cluster_min_size: int = Field(default=2, ge=1, le=100)
    improve_first_days: int = Field(default=7, ge=1, le=365)  # how far back the first clustering pass looks
    improve_train_timeout_s: float = Field(default=3600.0, gt=0)
    improve_rasa_start_timeout_s: float = Field(default=600.0, gt=0)
    improve_reload_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)  # default: DESKMATE_RASA_URL
    improve_helpdesk_eval: bool = True  # also compare on ../shared/eval/rasa-helpdesk-assistant when present

    @field_validator("improve_reload_urls", "rasa_urls", mode="before")
    @classmethod
    def _reload_urls(cls, value: object) -> object:
        return [u.strip().rstrip("/") for u in value.split(",") if u.strip()] if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [o.strip().rstrip("/") for o in value.split(",") if o.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _llm_needs_a_model(self) -> Settings:
        if (self.llm_base_url or self.llm_api_key) and not self.llm_model:
            raise ValueError("DESKMATE_LLM_MODEL must name the model when DESKMATE_LLM_BASE_URL or "
                             "DESKMATE_LLM_API_KEY is set (e.g. gpt-4o-mini, llama3.1:8b)")
        return self

    @model_validator(mode="after")
    def _timeouts_nest(self) -> Settings:
        hops = [("DESKMATE_LLM_TIMEOUT_S x (1 + DESKMATE_LLM_MAX_RETRIES)", self.llm_timeout_s * (1 + self.llm_max_retries)),
                ("DESKMATE_ACTIONS_API_TIMEOUT_S", self.actions_api_timeout_s),
                ("DESKMATE_RASA_ACTION_TIMEOUT_S", self.rasa_action_timeout_s),
                ("DESKMATE_RASA_TIMEOUT_S", self.rasa_timeout_s)]
        for (inner, inner_s), (outer, outer_s) in zip(hops, hops[1:], strict=False):
            if inner_s >= outer_s:
                raise ValueError(f"timeouts must nest: {inner} ({inner_s:g} s) must be shorter than {outer} "
                                 f"({outer_s:g} s), so a slow answer is reported as slow (docs/chat.md)")
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env != "production":
            return self
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        own_keys = self.session_keys is not None and self.encryption_keys is not None
        if not own_keys and (key.lower() in PLACEHOLDER_SECRETS or len(key) < 32):
            raise ValueError(
                "DESKMATE_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production (python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
                "unless DESKMATE_SESSION_KEYS and DESKMATE_ENCRYPTION_KEYS are both set"
            )
        if self.database_url is None:
            raise ValueError("DATABASE_URL must be set in production; the embedded server is for development")
        weak = [name for name, value in (("DESKMATE_ASSERTION_KEY", self.assertion_key),
                                         ("DESKMATE_RASA_CHANNEL_SECRET", self.rasa_channel_secret),
                                         ("DESKMATE_ACTIONS_SECRET", self.actions_secret))
                if value is None or len(value.get_secret_value()) < 32]
        if weak:  # the bot path's keys: the same on every replica, never a file on one of them
            raise ValueError(f"{', '.join(weak)} must be set to random values of at least 32 characters in "
                             "production (docs/security.md)")
        plain = sorted(name for name, endpoint in self.workflow_endpoints.items() if endpoint.secret is not None)
        if plain:
            raise ValueError(f"DESKMATE_WORKFLOW_ENDPOINTS: {', '.join(plain)} give their secret in clear; use "
                             "secret_encrypted (a token of `deskmate secrets encrypt`) in production")
        code_key = self.stepup.key or self.secret_key
        if code_key is None or len(code_key.get_secret_value()) < 32:  # the HMAC key of stored step-up codes
            raise ValueError("DESKMATE_STEPUP_KEY must be set to a random value of at least 32 characters in "
                             "production when DESKMATE_SECRET_KEY is not (docs/stepup.md)")
        approval_key = self.workflow_approval_key or self.secret_key
        if approval_key is None or len(approval_key.get_secret_value()) < 32:  # signs the approvers' e-mail links
            raise ValueError("DESKMATE_WORKFLOW_APPROVAL_KEY must be set to a random value of at least 32 characters "
                             "in production when DESKMATE_SECRET_KEY is not (docs/workflows.md)")
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 32:  # GET /metrics
            raise ValueError("DESKMATE_METRICS_TOKEN must be a random value of at least 32 characters in production, "
                             "or unset (then /metrics is off; docs/operations.md)")
        if self.teams.allow_loopback:  # replies would go wherever a loopback serviceUrl points
            raise ValueError("DESKMATE_TEAMS_ALLOW_LOOPBACK is for tests against a local fake Bot Connector; "
                             "unset it in production (docs/channels.md#microsoft-teams)")
        return self

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def effective_secret_key(self) -> str:
        """The configured secret key, or in development a random one kept in the data dir.

        Only a fallback now: each purpose has its own key (docs/security.md, "Keys").
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return keyfile.read_or_create(self.data_dir / "secret.key")

    def dev_key(self, name: str, *, generate: Callable[[], str] | None = None) -> str:
        """A development key kept in the data dir (``<data_dir>/<name>``, mode 0600); never in production."""
        if self.env == "production":
            raise ValueError(f"{name} is a development key file; set the key's variable in production "
                             "(docs/security.md)")
        return keyfile.read_or_create(self.data_dir / name, generate=generate)


@lru_cache
def get_settings() -> Settings:
    return Settings()
