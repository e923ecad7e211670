"""get_weather(city): the tool the API tests offer, as the protocols state it."""

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def weather_function(parameters: dict = CITY) -> dict:
    """As Chat Completions and Ollama's /api/chat state it: the shape every protocol's tool reaches Ollama in."""
    return {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather in a city", "parameters": parameters},
    }
