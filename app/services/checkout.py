"""The HPF session waterfall: the first way of collecting the card that works wins."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.security import Caller
from app.gateway import GatewayResult, pick_active_script, requests
from app.models import CallOutcome, Operation, Payer, Payment
from app.repositories.hpf_tokens import HpfTokenRepository
from app.repositories.payments import PaymentRepository
from app.schemas.netvalve import DiagnosticStep, Flow, HpfDetails, HpfSessionResponse, HppDetails
from app.services import errors
from app.services.attempts import open_attempt, release_unpaid_hosted
from app.services.carts import Due, already_paid, is_paid_in_medusa, order_description, paid_in_medusa
from app.services.context import ServiceContext
from app.services.views import is_open

HPF_TOKEN_LIFETIME = timedelta(minutes=5)
# Steps skipped on purpose rather than failed: the configuration chose them away, or a GET may not take them.
_SKIPPED = frozenset({"not_configured", "post_only"})

logger = logging.getLogger(__name__)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Checkout:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.carts = ctx.carts
        self.gateway = ctx.gateway

    async def create_hpf_session(
        self,
        cart_id: str | None,
        payment_session_id: str | None,
        caller: Caller | None = None,
        *,
        payment_collection_id: str | None = None,
        may_open_order: bool = True,
    ) -> HpfSessionResponse:
        """Run the waterfall of design.md section 3 for a cart or a payment collection; the first step that
        works wins. A paid one is refused, and only a POST (``may_open_order``) may open a hosted page
        order."""
        cart = await self.carts.get_payable(cart_id, payment_collection_id, payment_session_id, caller)
        if is_paid_in_medusa(cart):
            raise paid_in_medusa(cart)
        due = self.carts.due(cart)
        async with self.ctx.reads() as db:
            live = await PaymentRepository(db).find_live_for(due.payer)
        if live is not None and live.authorized_minor > 0 and not is_open(live):
            raise already_paid(cart)
        amount, session_id, payer = due.amount, due.session_id, due.payer
        diagnostic: list[DiagnosticStep] = []
        settings = self.settings

        def answer(
            flow: Flow, *, hpf: HpfDetails | None = None, hpp: HppDetails | None = None
        ) -> HpfSessionResponse:
            patch: dict[str, Any] = {"provider": "netvalve", "flow": flow.value, payer.kind + "_id": cart.id}
            if hpf is not None:
                patch |= {"hpf_script_src": hpf.script_src, "hpf_payment_token": hpf.payment_token}
            if hpp is not None:
                patch |= {"hpp_redirect_url": hpp.redirect_url}
            _log_failed_steps(diagnostic, payer, flow)
            return HpfSessionResponse(
                cart_id=payer.cart_id,
                payment_collection_id=payer.payment_collection_id,
                payment_session_id=session_id,
                environment=settings.netvalve_environment.value,
                flow=flow,
                currency_code=cart.currency_code,
                amount=amount,
                hpf=hpf,
                hpp=hpp,
                payment_session_patch=patch,
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
            async with self.ctx.one_statement() as db:
                await HpfTokenRepository(db).record_token(
                    token_digest(hpf.payment_token),
                    payer,
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
        if not may_open_order:
            diagnostic.append(DiagnosticStep(step="hpp_order", outcome="post_only"))
        elif (
            settings.netvalve_hpp_fallback_enabled
            and hpp_urls["success"]
            and hpp_urls["cancel"]
            and hpp_urls["failed"]
        ):
            hosted = await self._hosted_order(due, live, hpp_urls)
            if isinstance(hosted, DiagnosticStep):
                diagnostic.append(hosted)
            else:
                order = hosted
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
        logger.error(
            "no way to collect the card could be set up",
            extra={payer.kind + "_id": payer.id, "diagnostic": [step.model_dump() for step in diagnostic]},
        )
        raise errors.HpfSessionUnavailable()

    async def _hosted_order(
        self, due: Due, live: Payment | None, urls: dict[str, Any]
    ) -> GatewayResult[None] | DiagnosticStep:
        """Record the hosted page payment (intent first, under the reference NetValve gets), then create
        the order. The attempt stays open until NetValve holds its outcome; an order that could not be
        created closes it (the shopper never got a page to pay on)."""
        if live is not None and not await release_unpaid_hosted(self.ctx, live):
            return DiagnosticStep(step="hpp_order", outcome="payment_in_progress")
        operation = Operation.SALE if self.settings.netvalve_hpp_mode == "SALE" else Operation.AUTHORIZE
        opened = await open_attempt(self.ctx, due, operation, None, hosted=True)
        if isinstance(opened, Payment):
            return DiagnosticStep(step="hpp_order", outcome="payment_in_progress")
        ref, reference = opened
        order = await self.gateway.create_hpp_order(
            requests.hosted_order(
                amount=due.amount,
                currency=due.currency,
                routing=due.routing,
                mode=self.settings.netvalve_hpp_mode,
                reference=reference,
                description=order_description(due.cart),
                urls=urls,
            )
        )
        created = order.ok and order.response is not None and bool(order.response.redirect_url)
        async with self.ctx.ledger.locked(ref.payment_id) as locked:
            locked.settle(
                await locked.call(ref.call_id), CallOutcome.PENDING if created else CallOutcome.NOT_SENT
            )
        return order


def _log_failed_steps(diagnostic: list[DiagnosticStep], payer: Payer, flow: Flow) -> None:
    """The waterfall's failed steps go to the log, never to the storefront: they describe our configuration
    and NetValve's answers to our credentials."""
    if any(step.outcome not in _SKIPPED for step in diagnostic):
        logger.warning(
            "hpf session waterfall: steps failed before one worked",
            extra={
                payer.kind + "_id": payer.id,
                "flow": flow.value,
                "diagnostic": [step.model_dump() for step in diagnostic],
            },
        )


def _step(name: str, result: GatewayResult[Any]) -> DiagnosticStep:
    return DiagnosticStep(step=name, outcome=result.outcome.value, detail=result.code or result.message)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
