"""The async side of Stream callbacks (see python/src/callbacks.c): the awaitable of one step of
a consumer whose streams have callbacks, and final() of such a stream. Internal."""
import asyncio
import inspect


async def _run(pairs):
    for callback, arg in pairs:
        r = callback(arg)
        if inspect.isawaitable(r):
            await r


async def step(consumer, awaitable, exc):
    """Awaits one step (or takes its exception), then calls the callbacks of the events that
    step consumed, in order, then hands out the step's value or raises its exception. When the
    waiting task is cancelled the queued callbacks are dropped with the step."""
    if exc is None:
        try:
            value = await awaitable
        except asyncio.CancelledError:
            consumer._take_callbacks()
            raise
        except BaseException:
            await _run(consumer._take_callbacks())
            raise
        await _run(consumer._take_callbacks())
        return value
    await _run(consumer._take_callbacks())
    raise exc


async def final(stream):
    """final() of a stream with callbacks: every chunk's callbacks run as the chunk arrives."""
    try:
        while True:
            await stream._skip()
    except StopAsyncIteration:
        pass
    if stream.error is not None:
        raise stream.error
    return stream.summary
