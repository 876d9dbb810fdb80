"""What the ``vllm`` engine decodes from: an instruct model's own chat template where its
tokenizer has one, else the plain-text dialogue. No vLLM needed: the text is built before it."""

from __future__ import annotations

from services.common.domain import Conversation, Turn
from services.generator.engines.base import Prompt
from services.generator.engines.openai_engine import render_prompt
from services.generator.engines.vllm_engine import prompt_text


class _Templated:
    """A tokenizer with a chat template: renders role:content turns, then the assistant's."""

    chat_template = "{{ messages }}"

    def apply_chat_template(self, messages, add_generation_prompt: bool, tokenize: bool) -> str:
        assert add_generation_prompt and not tokenize
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"


class _Plain:
    chat_template = None


def _prompt() -> Prompt:
    turns = (Turn("seeker", "I failed my driving test again"), Turn("supporter", "Oh no."))
    turns += (Turn("seeker", "third time"),)
    return Prompt(step="direct.reply", conversation=Conversation(turns=turns), strategy=0)


def test_an_instruct_model_gets_its_chat_template_over_the_messages() -> None:
    prompt = _prompt()
    text = prompt_text(prompt, _Templated())
    assert text.startswith(f"<system>{prompt.system_message()}")
    assert "<user>I failed my driving test again<assistant>Oh no.<user>third time" in text
    assert text.endswith("<assistant>")
    assert "Seeker:" not in text


def test_a_model_without_a_template_gets_the_plain_dialogue() -> None:
    prompt = _prompt()
    assert prompt_text(prompt, _Plain()) == render_prompt(prompt)
