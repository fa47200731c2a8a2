"""The LoRA training run's configuration: defaults in code, help text on every field.

The help text is what the CLI flags and the Streamlit form show (as in trl's config classes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from workbench import errors


@dataclass
class TrainConfig:
    """Settings of one LoRA fine-tuning run (``training.recipe.train_lora``)."""

    base_model: str = field(default="embedded", metadata={
        "help": "Base model: 'embedded' (SmolLM2-135M-Instruct, offline) or a local model folder."})
    lora_rank: int = field(default=16, metadata={
        "help": "LoRA rank r: higher = more capacity, more memory and time."})
    lora_alpha: int = field(default=32, metadata={
        "help": "LoRA scaling alpha; the update is scaled by alpha / rank."})
    lora_dropout: float = field(default=0.05, metadata={
        "help": "Dropout on the LoRA input during training (0 disables it)."})
    target_modules: tuple[str, ...] = field(
        default=("q_proj", "k_proj", "v_proj", "o_proj"), metadata={
            "help": "Names of the linear layers that get LoRA adapters (attention projections)."})
    learning_rate: float = field(default=2e-4, metadata={
        "help": "Peak AdamW learning rate, reached after warmup, then decayed linearly."})
    max_steps: int = field(default=30, metadata={
        "help": "Number of optimizer steps; the data is cycled when it runs out."})
    batch_size: int = field(default=8, metadata={
        "help": "Conversations per optimizer step."})
    max_batch_tokens: int = field(default=2048, metadata={
        "help": "Padded tokens per forward pass: a batch above it is split into micro-batches "
                "whose gradients are accumulated (bounds memory, same optimizer step)."})
    warmup_steps: int = field(default=2, metadata={
        "help": "Steps of linear learning-rate warmup before the linear decay."})
    max_seq_len: int = field(default=1024, metadata={
        "help": "Tokens per conversation after the chat template; longer ones are truncated."})
    seed: int = field(default=0, metadata={
        "help": "Seed for LoRA initialisation, dropout and batch order."})

    def problems(self) -> list[str]:
        """Every invalid setting at once, as one human line each (empty when valid)."""
        checks = [
            (self.lora_rank >= 1, f"lora_rank must be >= 1, got {self.lora_rank}"),
            (self.lora_alpha > 0, f"lora_alpha must be > 0, got {self.lora_alpha}"),
            (0 <= self.lora_dropout < 1,
             f"lora_dropout must be in [0, 1), got {self.lora_dropout}"),
            (len(self.target_modules) > 0, "target_modules must name at least one layer"),
            (self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}"),
            (self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.max_batch_tokens >= 1,
             f"max_batch_tokens must be >= 1, got {self.max_batch_tokens}"),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}"),
            (self.max_seq_len >= 8, f"max_seq_len must be >= 8, got {self.max_seq_len}"),
        ]
        return [message for ok, message in checks if not ok]

    def validate(self) -> "TrainConfig":
        """Return self, or raise ``WorkbenchError`` listing every problem in one message."""
        found = self.problems()
        if found:
            raise errors.WorkbenchError("invalid training config: " + "; ".join(found))
        return self

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (``target_modules`` as a list)."""
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a dict such as ``to_dict()``'s; unknown keys raise ``ValueError``."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        values = dict(data)
        if "target_modules" in values:
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)
