"""Typed settings from the environment (and `.env`), with safe defaults for the embedded mode.

Every setting is read here and nowhere else, so the README's settings table and this class
stay one list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TWILIO_DEFAULT_API = "https://api.twilio.com"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(default=PROJECT_ROOT / "var", description="Where the embedded mode keeps its files")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in DATA_DIR")

    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = Field(default="", description="URL Twilio calls; signatures are checked against it")

    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_api_base_url: str = TWILIO_DEFAULT_API

    encryption_key: str = Field(default="", description="Fernet key for phone numbers; generated in DATA_DIR if empty")

    rasa_url: str = Field(default="", description="An already running Rasa server; empty: start our own")
    rasa_port: int = 5005
    rasa_venv: Path = PROJECT_ROOT / ".venv-rasa"
    models_dir: Path = PROJECT_ROOT / "models"
    action_token: str = Field(default="", description="Shared secret Rasa uses to call our actions")
    rasa_max_senders: int = Field(
        default=5000, ge=1, description="People whose recent turns Rasa keeps in memory (decision 20)"
    )

    surveys_dir: Path = PROJECT_ROOT / "surveys"
    default_survey: str = "demo"
    privacy_url: str = "https://example.nhs.uk/listening-bot/privacy"
    welcome_back_after_minutes: int = 60
    resume_expiry_hours: int = 72
    worker_poll_seconds: float = 1.0
    retrain_watch_seconds: float = Field(
        default=10.0, description="How often to look for changed NLU sources to retrain; 0: never"
    )
    send_max_attempts: int = 6
    log_level: str = "INFO"

    translation_provider: str = Field(
        default="google", description="google | deepl | microsoft | libre | none"
    )
    translation_api_key: str = ""
    translation_url: str = Field(default="", description="custom endpoint (LibreTranslate)")
    translation_max_attempts: int = 8
    translation_timeout_seconds: float = 30.0

    console_session_hours: float = Field(default=12, description="How long a console sign-in lasts")
    cookie_secure: bool | None = Field(
        default=None, description="Secure cookies; empty: when PUBLIC_BASE_URL is https"
    )

    # -- derived values -------------------------------------------------------------------
    @property
    def local_mode(self) -> bool:
        """No Twilio credentials: replies are kept for `listening-bot chat` instead of sent."""
        return not (self.twilio_account_sid and self.twilio_auth_token)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'listening.db'}"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def secret_key(self) -> bytes:
        """Root secret: ENCRYPTION_KEY, or a key file created once in DATA_DIR (embedded mode)."""
        if self.encryption_key:
            return self.encryption_key.encode()
        return _key_file(self.data_dir / "secret.key")

    @property
    def fernet_key(self) -> bytes:
        return base64.urlsafe_b64encode(_derive(self.secret_key, b"phone-encryption"))

    @property
    def hash_key(self) -> bytes:
        return _derive(self.secret_key, b"phone-lookup-hash")

    @property
    def webhook_auth_token(self) -> str:
        """Token that signs webhooks: Twilio's, or in local mode one derived from our secret."""
        if self.twilio_auth_token:
            return self.twilio_auth_token
        return _derive(self.secret_key, b"local-twilio-token").hex()

    @property
    def effective_action_token(self) -> str:
        return self.action_token or _derive(self.secret_key, b"rasa-action-token").hex()

    @property
    def effective_rasa_url(self) -> str:
        return (self.rasa_url or f"http://127.0.0.1:{self.rasa_port}").rstrip("/")

    @property
    def console_secret(self) -> bytes:
        """Signs the console's CSRF tokens; derived, so there is nothing more to configure."""
        return _derive(self.secret_key, b"console-session")

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.base_url.startswith("https://")


def _derive(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, purpose, hashlib.sha256).digest()


def _key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def get_settings() -> Settings:
    return Settings()
