"""Language-model engines the generation methods run on (see ``base.Engine`` for the contract).

``composer`` is always available; ``vllm`` and ``openai`` plug in behind the same interface.
"""
