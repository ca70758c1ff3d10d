#!/usr/bin/env python3
"""Drives `zaya-graph serve` with the official `openai` package: chat, streaming, thinking,
raw completions, errors, tool calls.

Run by tests/serve.rs (the_official_openai_python_client_works) against two in-process
servers: --base-url serves the tiny fixture model through the engine, --tools-base-url a
scripted model that answers with one `get_weather` tool call. Exits non-zero on any mismatch.
"""

import argparse
import json
import sys

import openai


def printed(content: str) -> str:
    """What `zaya-graph run` prints for an answer: a final newline unless it has one."""
    return content if content == "" or content.endswith("\n") else content + "\n"


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--tools-base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--max-tokens", type=int, required=True)
    parser.add_argument("--expect-printed-file", required=True,
                        help="`run --greedy`'s stdout for the same prompt")
    args = parser.parse_args()
    with open(args.expect_printed_file, encoding="utf-8") as f:
        expected = f.read()

    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0)
    models = client.models.list()
    check(len(models.data) == 1, f"one model listed: {models}")
    model = models.data[0].id
    check(client.models.retrieve(model).id == model, "models.retrieve")
    messages = [{"role": "user", "content": args.prompt}]

    # Chat, not streamed.
    answer = client.chat.completions.create(
        model=model, messages=messages, temperature=0, max_tokens=args.max_tokens)
    content = answer.choices[0].message.content
    check(printed(content) == expected, f"chat text {content!r} vs run's {expected!r}")
    check(answer.choices[0].finish_reason in ("stop", "length"), answer)
    check(answer.usage.completion_tokens >= 1, answer.usage)
    check(answer.usage.total_tokens ==
          answer.usage.prompt_tokens + answer.usage.completion_tokens, answer.usage)

    # Chat, streamed (with the usage chunk).
    stream = client.chat.completions.create(
        model=model, messages=messages, temperature=0, max_tokens=args.max_tokens,
        stream=True, stream_options={"include_usage": True})
    parts, reasons, usage = [], [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
            if choice.finish_reason:
                reasons.append(choice.finish_reason)
    check("".join(parts) == content, f"streamed {''.join(parts)!r} vs {content!r}")
    check(reasons == [answer.choices[0].finish_reason], reasons)
    check(usage is not None and usage.completion_tokens == answer.usage.completion_tokens,
          usage)

    # Thinking through chat_template_kwargs; the reasoning arrives as reasoning_content.
    thought = client.chat.completions.create(
        model=model, messages=messages, temperature=0, max_tokens=args.max_tokens,
        extra_body={"chat_template_kwargs": {"enable_thinking": True}})
    reasoning = getattr(thought.choices[0].message, "reasoning_content", None)
    check(isinstance(reasoning, str), f"reasoning_content: {thought}")
    check(getattr(answer.choices[0].message, "reasoning_content", None) is None,
          f"no reasoning_content without thinking: {answer}")

    # Raw completions.
    completion = client.completions.create(
        model=model, prompt="Hello world", temperature=0, max_tokens=5)
    check(isinstance(completion.choices[0].text, str), completion)

    # A wrong key is an AuthenticationError (401), a bad request a BadRequestError (400).
    bad = openai.OpenAI(base_url=args.base_url, api_key="wrong", max_retries=0)
    try:
        bad.chat.completions.create(model=model, messages=messages)
        check(False, "a wrong key was accepted")
    except openai.AuthenticationError:
        pass
    try:
        client.chat.completions.create(
            model=model, messages=[{"role": "wizard", "content": "x"}])
        check(False, "an unknown role was accepted")
    except openai.BadRequestError as e:
        check(e.body and e.body.get("param") == "messages[0].role", e.body)

    # Tool calls, not streamed and streamed.
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}}]
    tclient = openai.OpenAI(base_url=args.tools_base_url, api_key=args.api_key, max_retries=0)
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    answer = tclient.chat.completions.create(model=model, messages=ask, tools=tools)
    choice = answer.choices[0]
    check(choice.finish_reason == "tool_calls", answer)
    calls = choice.message.tool_calls
    check(calls and len(calls) == 1, answer)
    check(calls[0].function.name == "get_weather", calls)
    check(json.loads(calls[0].function.arguments) == {"city": "Paris", "days": 2}, calls)

    stream = tclient.chat.completions.create(
        model=model, messages=ask, tools=tools, stream=True)
    names, arguments, reasons = [], "", []
    for chunk in stream:
        for c in chunk.choices:
            for call in c.delta.tool_calls or []:
                if call.function.name:
                    names.append(call.function.name)
                arguments += call.function.arguments or ""
            if c.finish_reason:
                reasons.append(c.finish_reason)
    check(names == ["get_weather"], names)
    check(json.loads(arguments) == {"city": "Paris", "days": 2}, arguments)
    check(reasons == ["tool_calls"], reasons)

    # The tool result goes back.
    follow = ask + [
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temperature": 21}'},
    ]
    answer = tclient.chat.completions.create(model=model, messages=follow, tools=tools)
    check(answer.choices[0].finish_reason == "tool_calls", answer)

    print("openai client: all checks passed")


if __name__ == "__main__":
    main()
