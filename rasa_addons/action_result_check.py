"""Rasa checks each custom action's answer against its JSON Schema: build that check once.

Runs inside Rasa's own environment (Python 3.10, Rasa 3.6.21, jsonschema 3.2.0).

Why: Rasa 3.6's `RemoteAction._validate_action_result` calls `jsonschema.validate`, which first
checks the whole events schema against the JSON Schema meta-schema, then builds a validator,
on every action call. Under the benchmark that was about a fifth of Rasa's CPU (py-spy), all of
it spent re-proving that Rasa's own constant schema is a schema. Here the schema is checked once,
the validator is kept, and every answer is still validated the same way: an invalid answer
raises the same `ValidationError` with the same advice appended.
"""

from __future__ import annotations

from typing import Any

from jsonschema import ValidationError, exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

ADVICE = (
    ". Failed to validate Action server response from API, "
    "make sure your response from the Action endpoint is valid. "
    "For more information about the format visit "
    f"{DOCS_BASE_URL}/custom-actions"
)


def _validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def install() -> None:
    """Replace Rasa's per-call check with one that reuses a validator built now."""
    validator = _validator()

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        error: ValidationError | None = exceptions.best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += ADVICE
        raise error

    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
