"""The demo flow (zh-CN and en): language choice, business hours (Chinese holidays and
makeup workdays included), a main menu (1 billing, 2 repairs and general questions,
0 operator) to three queues, and voicemail when closed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jietong.telephony.ivr.schema import Flow

DEMO_QUEUES = ("billing", "general", "operator")


def demo_flow(queues: Mapping[str, str] | None = None, *, always_open: bool = False) -> Flow:
    """The demo flow; ``queues`` maps billing/general/operator to queue ids (default:
    the names). ``always_open`` replaces the hours with every day, all day (for demos
    and tests at any hour)."""
    q = {name: (queues or {}).get(name, name) for name in DEMO_QUEUES}
    hours: dict[str, Any] = {"timezone": "Asia/Shanghai", "holiday_country": "CN"}
    if always_open:
        hours = {"weekly": {str(d): [("00:00", "24:00")] for d in range(7)},
                 "holiday_country": None}  # fmt: skip
    return Flow.model_validate(
        {
            "start": "language",
            "languages": ["zh-CN", "en"],
            "nodes": {
                "language": {
                    "type": "language",
                    "prompt": {
                        "text": {
                            "zh-CN": "欢迎致电捷通。普通话服务请按一。",
                            "en": "Welcome to Jietong. For English, press two.",
                        }
                    },
                    "options": {"1": "zh-CN", "2": "en"},
                    "default": "zh-CN",
                    "timeout_s": 4,
                    "next": "hours",
                },
                "hours": {
                    "type": "hours",
                    "hours": hours,
                    "open": "main",
                    "closed": "closed",
                    "holiday": "holiday",
                },
                "main": {
                    "type": "menu",
                    "prompt": {
                        "text": {
                            "zh-CN": "账单问题请按一，报修及其他问题请按二，人工服务请按零。",
                            "en": "For billing, press one. For repairs and other questions, "
                            "press two. To speak to an operator, press zero.",
                        }
                    },
                    "options": {"1": "billing", "2": "general", "0": "operator"},
                    "timeout_s": 5,
                    "retries": 2,
                    "invalid": {
                        "text": {"zh-CN": "输入有误。", "en": "Sorry, that is not an option."}
                    },
                    "no_input": {
                        "text": {
                            "zh-CN": "我们没有收到您的选择。",
                            "en": "We did not hear your choice.",
                        }
                    },
                    "on_failure": "operator",
                },
                "billing": _queue(
                    q["billing"], "正在为您转接账单服务。", "Connecting you to billing."
                ),
                "general": _queue(
                    q["general"], "正在为您转接客服。", "Connecting you to an agent."
                ),
                "operator": _queue(
                    q["operator"], "正在为您转接人工服务。", "Connecting you to an operator."
                ),
                "closed": _voicemail(
                    "您好，现在是非工作时间。请在提示音后留言，按井号键结束。",
                    "We are closed now. Please leave a message after the tone, then press hash.",
                ),
                "holiday": _voicemail(
                    "节假日期间暂停人工服务。请在提示音后留言，按井号键结束。",
                    "We are closed for the public holiday. Please leave a message after the tone.",
                ),
            },
        }
    )


def _queue(queue_id: str, zh: str, en: str) -> dict[str, Any]:
    return {"type": "queue", "queue_id": queue_id, "prompt": {"text": {"zh-CN": zh, "en": en}}}


def _voicemail(zh: str, en: str) -> dict[str, Any]:
    return {"type": "voicemail", "prompt": {"text": {"zh-CN": zh, "en": en}}, "max_seconds": 120}
