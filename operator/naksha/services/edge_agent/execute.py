"""Running what a verified, allowed trigger asks for: argv subprocesses (no shell) or an HTTP probe."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from naksha.domain.federation.allowlist import Execution

MAX_OUTPUT = 4096


async def _run(argv: tuple[str, ...], timeout: float) -> tuple[int | None, str]:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as error:
        return None, f"cannot start {argv[0]}: {error}"
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None, f"{argv[0]} timed out after {timeout:.0f}s"
    return process.returncode, output.decode(errors="replace")[-MAX_OUTPUT:]


async def execute(execution: Execution) -> dict[str, Any]:
    """The result fields (outcome, exitCode, output) of running ``execution``."""
    started = time.time()
    if execution.url:
        try:
            timeout = aiohttp.ClientTimeout(total=execution.timeout)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(execution.url) as response,
            ):
                ok = response.status < 400
                output = f"HTTP {response.status} in {time.time() - started:.3f}s"
                return {
                    "outcome": "Succeeded" if ok else "Failed",
                    "exitCode": response.status,
                    "output": output,
                }
        except (aiohttp.ClientError, TimeoutError) as error:
            return {"outcome": "Failed", "exitCode": None, "output": f"{type(error).__name__}: {error}"}
    if execution.diagnostics:
        parts = []
        for argv in execution.diagnostics:
            code, output = await _run(argv, execution.timeout)
            parts.append(f"$ {' '.join(argv)} (exit {code})\n{output}")
        return {"outcome": "Succeeded", "exitCode": 0, "output": "\n".join(parts)[-MAX_OUTPUT:]}
    code, output = await _run(execution.argv, execution.timeout)
    return {"outcome": "Succeeded" if code == 0 else "Failed", "exitCode": code, "output": output}
