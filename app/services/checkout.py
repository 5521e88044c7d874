"""The HPF session waterfall (design.md section 3): the first way of collecting the card that works wins."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from app.gateway import GatewayResult, HppOrderRequest, pick_active_script
from app.repositories.payments import PaymentRepository
from app.schemas.netvalve import DiagnosticStep, Flow, HpfDetails, HpfSessionResponse, HppDetails
from app.services import errors
from app.services.context import ServiceContext

HPF_TOKEN_LIFETIME = timedelta(minutes=5)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Checkout:
    def __init__(self, ctx: ServiceContext) -> None:
        self.settings = ctx.settings
        self.sessionmaker = ctx.sessionmaker
        self.carts = ctx.carts
        self.gateway = ctx.gateway

    async def create_hpf_session(self, cart_id: str, payment_session_id: str | None) -> HpfSessionResponse:
        """Run the waterfall of design.md section 3; the first step that works wins."""
        cart = await self.carts.get(cart_id, payment_session_id)
        if cart.is_completed:
            raise errors.CartCompleted()
        due = self.carts.due(cart)
        amount, session_id = due.amount, due.session_id
        diagnostic: list[DiagnosticStep] = []
        settings = self.settings

        def answer(
            flow: Flow, *, hpf: HpfDetails | None = None, hpp: HppDetails | None = None
        ) -> HpfSessionResponse:
            patch: dict[str, Any] = {"provider": "netvalve", "flow": flow.value, "cart_id": cart.id}
            if hpf is not None:
                patch |= {"hpf_script_src": hpf.script_src, "hpf_payment_token": hpf.payment_token}
            if hpp is not None:
                patch |= {"hpp_redirect_url": hpp.redirect_url}
            return HpfSessionResponse(
                cart_id=cart.id,
                payment_session_id=session_id,
                environment=settings.netvalve_environment.value,
                flow=flow,
                currency_code=cart.currency_code,
                amount=amount,
                hpf=hpf,
                hpp=hpp,
                payment_session_patch=patch,
                diagnostic=diagnostic,
            )

        if settings.netvalve_hpp_direct_url:
            return answer(Flow.HPP, hpp=HppDetails(redirect_url=settings.netvalve_hpp_direct_url))
        diagnostic.append(DiagnosticStep(step="hpp_direct_url", outcome="not_configured"))

        if settings.netvalve_hpf_script_src:
            return answer(
                Flow.HPF,
                hpf=HpfDetails(
                    script_src=settings.netvalve_hpf_script_src,
                    integrity=settings.netvalve_hpf_script_integrity,
                ),
            )
        diagnostic.append(DiagnosticStep(step="hpf_script_src", outcome="not_configured"))

        session = await self.gateway.initialize_hpf_session()
        if session.ok and session.details is not None:
            hpf = session.details
            async with self.sessionmaker.begin() as db:
                await PaymentRepository(db).record_token(
                    token_digest(hpf.payment_token),
                    cart.id,
                    session_id,
                    datetime.now(UTC) + HPF_TOKEN_LIFETIME,
                )
            return answer(
                Flow.HPF,
                hpf=HpfDetails(
                    script_src=hpf.netvalve_script_src,
                    integrity=hpf.integrity,
                    version=hpf.version,
                    payment_token=hpf.payment_token,
                    jwt_token=hpf.jwt_token,
                    trace_id=hpf.trace_id,
                ),
            )
        diagnostic.append(_step("initialize_session", session))

        if settings.netvalve_basic_auth_username and settings.netvalve_basic_auth_password:
            scripts = await self.gateway.backoffice_hpf_scripts()
            chosen = pick_active_script(scripts.details or []) if scripts.ok else None
            if chosen is not None:
                return answer(
                    Flow.HPF,
                    hpf=HpfDetails(
                        script_src=chosen.netvalve_script_src,
                        integrity=chosen.integrity,
                        version=chosen.client_version,
                    ),
                )
            diagnostic.append(
                _step("backoffice_script", scripts)
                if not scripts.ok
                else DiagnosticStep(step="backoffice_script", outcome="no_active_script")
            )
        else:
            diagnostic.append(DiagnosticStep(step="backoffice_script", outcome="not_configured"))

        hpp_urls = {
            name: settings.hpp_return_url(name) for name in ("success", "cancel", "failed", "pending")
        }
        if (
            settings.netvalve_hpp_fallback_enabled
            and hpp_urls["success"]
            and hpp_urls["cancel"]
            and hpp_urls["failed"]
        ):
            order = await self.gateway.create_hpp_order(
                HppOrderRequest(
                    amount=amount,
                    currency=cart.currency_code,
                    mode=settings.netvalve_hpp_mode,
                    client_order_id=f"{session_id or cart.id}-hpp",
                    order_desc=f"Cart {cart.id}",
                    success_url=hpp_urls["success"],
                    cancel_url=hpp_urls["cancel"],
                    failed_url=hpp_urls["failed"],
                    pending_url=hpp_urls["pending"],
                    **due.routing,
                )
            )
            if order.ok and order.response is not None and order.response.redirect_url:
                return answer(
                    Flow.HPP,
                    hpp=HppDetails(
                        redirect_url=order.response.redirect_url,
                        order_id=_int_or_none(order.response.order_id),
                        transaction_id=order.response.transaction_id,
                    ),
                )
            diagnostic.append(_step("hpp_order", order))
        else:
            reason = (
                "disabled" if not settings.netvalve_hpp_fallback_enabled else "return_urls_not_configured"
            )
            diagnostic.append(DiagnosticStep(step="hpp_order", outcome=reason))

        fallback = settings.hpf_fallback_script_src
        if fallback:
            diagnostic.append(DiagnosticStep(step="fallback_script", outcome="used"))
            return answer(Flow.HPF, hpf=HpfDetails(script_src=fallback))
        diagnostic.append(DiagnosticStep(step="fallback_script", outcome="not_configured"))
        raise errors.HpfSessionUnavailable(details=[step.model_dump() for step in diagnostic])


def _step(name: str, result: GatewayResult[Any]) -> DiagnosticStep:
    return DiagnosticStep(step=name, outcome=result.outcome.value, detail=result.code or result.message)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
