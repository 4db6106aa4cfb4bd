"""Mistakes a type checker must catch (.ci/typecheck.sh expects exactly these errors)."""

from __future__ import annotations

from llm_client_sync import Agnet, FallbackProvider, OpenAIProvider  # error: misspelled import

provider = OpenAIProvider(model="gpt-5-nano")
provider.complete("Hi", temprature=0.5)  # error: misspelled keyword
provider.complete("Hi", temperature="hot")  # error: wrong type
provider.complete("Hi", temperature=0.5, extra_body={"top_k": 3})  # fine: extra fields go in extra_body
FallbackProvider([provider]).stream("Hi", seeed=1)  # error: misspelled keyword
print(Agnet)
