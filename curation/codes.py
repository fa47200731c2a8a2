"""The finding codes of validation and training: one registry, one code per question.

``curation.validate`` reports every code below before training starts; ``training.recipe``
excludes a row with ``NO_TRAINABLE_TOKENS`` or ``TEMPLATE_ERROR`` under the same rule
(``training.data.encode_example`` with the same ``max_seq_len``), so a row training would set
aside is already a validation finding with the same code. Sources of the checks are in
``curation.validate``'s docstring. A leaf module: it imports nothing of the project.
"""

from __future__ import annotations

NO_TRAINABLE_TOKENS = "no_trainable_tokens"
TEMPLATE_ERROR = "template_error"

CODES: dict[str, tuple[str, str]] = {  # code -> (severity, what it means and where from)
    "no_messages": ("error", "empty messages list (guide: missing_messages_list)"),
    "unknown_role": ("error", "role not system/user/assistant/tool (guide: unrecognized_role)"),
    "unknown_key": ("warning", "message key the API does not know (guide: "
                               "message_unrecognized_key)"),
    "empty_content": ("error", "empty content and no tool call (guide: missing_content)"),
    "whitespace_only": ("error", "content is only whitespace"),
    "missing_assistant": ("error", "no assistant message (guide: "
                                   "example_missing_assistant_message)"),
    "missing_system": ("info", "no system message; the chat template adds its own (guide)"),
    "missing_user": ("error", "no user message (guide warning; no prompt to learn from)"),
    "too_many_tokens": ("error", "templated conversation longer than max_seq_len"),
    "openai_token_limit": ("warning", "over the guide's 16,385-token limit: OpenAI truncates"),
    NO_TRAINABLE_TOKENS: ("error", "no assistant token left after templating and truncation "
                                   "to max_seq_len: the row teaches nothing"),
    TEMPLATE_ERROR: ("error", "the chat template cannot place the answer (e.g. the "
                              "conversation opens with an assistant turn)"),
    "role_order": ("warning", "the same role twice in a row (e.g. assistant after assistant)"),
    "trailing_user_turn": ("warning", "ends with a user turn, which training ignores"),
    "tool_call_without_reply": ("error", "an assistant tool call with no tool message "
                                         "answering its id"),
    "encoding_damage": ("warning", "mojibake: ftfy.fix_encoding would change the text"),
    "refusal": ("warning", "the answer refuses (\"I'm sorry, but I can't ...\")"),
    "boilerplate": ("warning", "AI-assistant boilerplate (\"As an AI language model ...\")"),
    "unsupported_language": ("warning", "a language the PII model does not cover"),
}
