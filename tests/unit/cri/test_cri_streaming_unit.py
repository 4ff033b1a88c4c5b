"""The streaming server's URLs: one use, one kind, one minute; and the exit status documents it sends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from ketch.cri import streaming
from ketch.cri.config import Config, Handler
from ketch.cri.service import CriService
from ketch.cri.stream_channels import status
from ketch.cri.streaming import StreamServer


def test_status_documents() -> None:
    assert json.loads(status(0)) == {"metadata": {}, "status": "Success"}
    doc = json.loads(status(3))
    assert doc["reason"] == "NonZeroExitCode" and doc["details"]["causes"] == [{"reason": "ExitCode",
                                                                               "message": "3"}]
    err = json.loads(status(-1, "cannot attach"))
    assert err["status"] == "Failure" and err["message"] == "cannot attach" and "details" not in err


def test_urls_are_single_use_of_one_kind_and_expire(tmp_path: Path) -> None:
    cfg = Config(root=str(tmp_path / "r"), state=str(tmp_path / "s"), handlers={"t": Handler("t", "/bin/true")},
                 default_handler="t", conmon="/bin/true")
    svc = CriService(cfg)

    async def main() -> list[int]:
        srv = StreamServer(svc, "127.0.0.1", 0)
        await srv.start()
        try:
            assert svc.stream_url.startswith("http://127.0.0.1:")
            codes = []
            async with aiohttp.ClientSession() as s:
                exec_url = srv.url_for("exec", object())
                wrong_kind = exec_url.replace("/exec/", "/attach/")
                async with s.get(wrong_kind) as r:
                    codes.append(r.status)  # the token is spent even on the wrong kind
                async with s.get(exec_url) as r:
                    codes.append(r.status)
                old = streaming.TOKEN_TTL
                streaming.TOKEN_TTL = -1.0
                try:
                    expired = srv.url_for("portforward", object())
                finally:
                    streaming.TOKEN_TTL = old
                async with s.get(expired) as r:
                    codes.append(r.status)
                async with s.get(svc.stream_url + "/exec/not-a-token") as r:
                    codes.append(r.status)
            return codes
        finally:
            await srv.close()

    assert asyncio.run(main()) == [404, 404, 404, 404]
