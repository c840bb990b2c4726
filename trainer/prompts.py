"""Prompts rendered to token ids for the rollout engines, and dataset samples carrying a response to score."""

from __future__ import annotations

from contract.schema import ChatMessage, Sample


def encode_prompt(tokenizer, sample: Sample, chat_template: bool, instructions: str | None = None) -> list[int]:
    """Token ids of the prompt, ready for the assistant's reply. ``instructions`` (a tool's format)
    go first: into the system message (a new one, or before the sample's own), or before the text."""
    if not chat_template:
        text = sample.prompt if isinstance(sample.prompt, str) else "\n".join(m.content for m in sample.prompt)
        text = f"{instructions}\n\n{text}" if instructions else text
        return tokenizer(text, add_special_tokens=True)["input_ids"]
    messages = [ChatMessage(role="user", content=sample.prompt)] if isinstance(sample.prompt, str) else list(sample.prompt)
    if instructions and messages and messages[0].role == "system":
        messages[0] = ChatMessage(role="system", content=f"{instructions}\n\n{messages[0].content}")
    elif instructions:
        messages.insert(0, ChatMessage(role="system", content=instructions))
    ids = tokenizer.apply_chat_template([m.model_dump() for m in messages], add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def with_response(sample: Sample, response: str, suffix: str = "") -> Sample:
    """A copy of a dataset sample carrying a response to score (``suffix`` keeps ids unique)."""
    return sample.model_copy(update={"response": response, "id": sample.id + suffix})
