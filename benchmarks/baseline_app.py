"""The floor for the callback benchmark: same server stack, no verify/decrypt/enqueue."""

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.post("/wechat/callback")
async def callback(request: Request) -> PlainTextResponse:
    await request.body()
    return PlainTextResponse("success")
