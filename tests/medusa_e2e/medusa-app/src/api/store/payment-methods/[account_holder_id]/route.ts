// GET /store/payment-methods/:account_holder_id: the signed-in customer's saved payment methods, as the payment
// provider lists them (Medusa 2.21 has no such store route; its saved-cards guide has a shop add one). Only an
// account holder linked to the signed-in customer is listed: another customer's holder is not found.
import type { AuthenticatedMedusaRequest, MedusaResponse } from "@medusajs/framework/http"
import { ContainerRegistrationKeys, MedusaError, Modules } from "@medusajs/framework/utils"

type Holder = { id: string; provider_id: string; data: Record<string, unknown> }

export async function GET(req: AuthenticatedMedusaRequest, res: MedusaResponse): Promise<void> {
  const query = req.scope.resolve(ContainerRegistrationKeys.QUERY)
  const { data: customers } = await query.graph({
    entity: "customer",
    fields: ["id", "account_holders.id", "account_holders.provider_id", "account_holders.data"],
    filters: { id: req.auth_context.actor_id },
  })
  const holders = ((customers[0]?.account_holders ?? []) as Array<Holder | null>).filter(
    (holder): holder is Holder => holder !== null
  )
  const holder = holders.find((candidate) => candidate.id === req.params.account_holder_id)
  if (holder === undefined) {
    throw new MedusaError(MedusaError.Types.NOT_FOUND, "Account holder not found")
  }
  const payment = req.scope.resolve(Modules.PAYMENT)
  const methods = await payment.listPaymentMethods({
    provider_id: holder.provider_id,
    context: { account_holder: { data: holder.data } },
  })
  res.json({ payment_methods: methods })
}
