"""Every SQL statement the service runs against Medusa's tables (``medusa.MedusaReader`` runs them), and the
tables they read.

Medusa links a cart to its payment rows only through link tables (``cart_payment_collection``,
``order_cart``), and an order to the collections of its later changes through ``order_payment_collection``,
which it soft-deletes on unlink, so every join filters ``deleted_at IS NULL``. Money is read
from the exact ``raw_amount->>'value'`` decimal string, never from the ``numeric`` twin that Medusa fills
from a JavaScript double.
"""

# Every Medusa table the statements below read: the read-only role needs SELECT on these and nothing else
# (README, "Use it from Medusa"; a test checks the statements against this list).
TABLES_READ = (
    '"order"',
    "api_key",
    "cart",
    "cart_address",
    "cart_payment_collection",
    "customer",
    "order_address",
    "order_cart",
    "order_payment_collection",
    "payment",
    "payment_collection",
    "payment_session",
    "publishable_api_key_sales_channel",
    "refund",
)

ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "province",
    "postal_code",
    "country_code",
    "phone",
)

# One round trip: cart, addresses, customer, then cart -> cart_payment_collection -> payment_collection ->
# payment_session and cart -> order_cart. `\_` because `_` is a LIKE wildcard.
GET_CART = r"""
SELECT
    c.id,
    c.email,
    c.currency_code,
    c.region_id,
    c.customer_id,
    c.completed_at,
    c.sales_channel_id,
    ba.id AS ba_id,
    ba.first_name AS ba_first_name,
    ba.last_name AS ba_last_name,
    ba.company AS ba_company,
    ba.address_1 AS ba_address_1,
    ba.address_2 AS ba_address_2,
    ba.city AS ba_city,
    ba.province AS ba_province,
    ba.postal_code AS ba_postal_code,
    ba.country_code AS ba_country_code,
    ba.phone AS ba_phone,
    sa.id AS sa_id,
    sa.first_name AS sa_first_name,
    sa.last_name AS sa_last_name,
    sa.company AS sa_company,
    sa.address_1 AS sa_address_1,
    sa.address_2 AS sa_address_2,
    sa.city AS sa_city,
    sa.province AS sa_province,
    sa.postal_code AS sa_postal_code,
    sa.country_code AS sa_country_code,
    sa.phone AS sa_phone,
    cu.first_name AS customer_first_name,
    cu.last_name AS customer_last_name,
    cu.phone AS customer_phone,
    coalesce(cu.has_account, false) AS customer_has_account,
    pc.id AS pc_id,
    pc.amount AS pc_amount,
    pc.status AS pc_status,
    ps.id AS ps_id,
    ps.payment_collection_id AS ps_payment_collection_id,
    ps.provider_id AS ps_provider_id,
    ps.amount AS ps_amount,
    ps.currency_code AS ps_currency_code,
    ps.status AS ps_status,
    ps.data AS ps_data,
    ps.authorized_at AS ps_authorized_at,
    oc.order_id
FROM cart c
LEFT JOIN cart_address ba ON ba.id = c.billing_address_id AND ba.deleted_at IS NULL
LEFT JOIN cart_address sa ON sa.id = c.shipping_address_id AND sa.deleted_at IS NULL
LEFT JOIN customer cu ON cu.id = c.customer_id AND cu.deleted_at IS NULL
LEFT JOIN LATERAL (
    SELECT
        pc.id,
        COALESCE(pc.raw_amount->>'value', pc.amount::text) AS amount,
        pc.status
    FROM cart_payment_collection cpc
    JOIN payment_collection pc ON pc.id = cpc.payment_collection_id AND pc.deleted_at IS NULL
    WHERE cpc.cart_id = c.id AND cpc.deleted_at IS NULL
    ORDER BY cpc.created_at DESC, pc.created_at DESC
    LIMIT 1
) pc ON TRUE
LEFT JOIN LATERAL (
    SELECT
        ps.id,
        ps.payment_collection_id,
        ps.provider_id,
        COALESCE(ps.raw_amount->>'value', ps.amount::text) AS amount,
        ps.currency_code,
        ps.status,
        ps.data::text AS data,
        ps.authorized_at
    FROM payment_session ps
    WHERE ps.payment_collection_id = pc.id
      AND ps.deleted_at IS NULL
      AND ps.provider_id LIKE 'pp\_netvalve%'
    ORDER BY ps.created_at DESC, ps.id DESC
    LIMIT 1
) ps ON TRUE
LEFT JOIN LATERAL (
    SELECT oc.order_id
    FROM order_cart oc
    WHERE oc.cart_id = c.id AND oc.deleted_at IS NULL
    ORDER BY oc.created_at DESC
    LIMIT 1
) oc ON TRUE
WHERE c.id = $1 AND c.deleted_at IS NULL
"""


# A payment collection of an order that no cart holds: Medusa 2.21.2 links the collections of order edits,
# claims and exchanges to their order through order_payment_collection (createOrUpdateOrderPaymentCollection
# Workflow; the claim and exchange link tables are defined but not registered, so no database has them). A
# collection a live cart still holds is the cart's to pay, through cart_id.
GET_COLLECTION = r"""
SELECT
    pc.id,
    COALESCE(pc.raw_amount->>'value', pc.amount::text) AS amount,
    pc.currency_code,
    pc.status,
    o.id AS order_id,
    o.status::text AS order_status,
    o.email,
    o.region_id,
    o.customer_id,
    o.sales_channel_id,
    ba.id AS ba_id,
    ba.first_name AS ba_first_name,
    ba.last_name AS ba_last_name,
    ba.company AS ba_company,
    ba.address_1 AS ba_address_1,
    ba.address_2 AS ba_address_2,
    ba.city AS ba_city,
    ba.province AS ba_province,
    ba.postal_code AS ba_postal_code,
    ba.country_code AS ba_country_code,
    ba.phone AS ba_phone,
    sa.id AS sa_id,
    sa.first_name AS sa_first_name,
    sa.last_name AS sa_last_name,
    sa.company AS sa_company,
    sa.address_1 AS sa_address_1,
    sa.address_2 AS sa_address_2,
    sa.city AS sa_city,
    sa.province AS sa_province,
    sa.postal_code AS sa_postal_code,
    sa.country_code AS sa_country_code,
    sa.phone AS sa_phone,
    cu.first_name AS customer_first_name,
    cu.last_name AS customer_last_name,
    cu.phone AS customer_phone,
    ps.id AS ps_id,
    ps.payment_collection_id AS ps_payment_collection_id,
    ps.provider_id AS ps_provider_id,
    ps.amount AS ps_amount,
    ps.currency_code AS ps_currency_code,
    ps.status AS ps_status,
    ps.data AS ps_data,
    ps.authorized_at AS ps_authorized_at
FROM payment_collection pc
JOIN LATERAL (
    SELECT opc.order_id
    FROM order_payment_collection opc
    WHERE opc.payment_collection_id = pc.id AND opc.deleted_at IS NULL
    ORDER BY opc.created_at DESC
    LIMIT 1
) link ON TRUE
JOIN "order" o ON o.id = link.order_id AND o.deleted_at IS NULL
LEFT JOIN order_address ba ON ba.id = o.billing_address_id AND ba.deleted_at IS NULL
LEFT JOIN order_address sa ON sa.id = o.shipping_address_id AND sa.deleted_at IS NULL
LEFT JOIN customer cu ON cu.id = o.customer_id AND cu.deleted_at IS NULL
LEFT JOIN LATERAL (
    SELECT
        ps.id,
        ps.payment_collection_id,
        ps.provider_id,
        COALESCE(ps.raw_amount->>'value', ps.amount::text) AS amount,
        ps.currency_code,
        ps.status,
        ps.data::text AS data,
        ps.authorized_at
    FROM payment_session ps
    WHERE ps.payment_collection_id = pc.id
      AND ps.deleted_at IS NULL
      AND ps.provider_id LIKE 'pp\_netvalve%'
    ORDER BY ps.created_at DESC, ps.id DESC
    LIMIT 1
) ps ON TRUE
WHERE pc.id = $1
  AND pc.deleted_at IS NULL
  AND NOT EXISTS (
      SELECT 1
      FROM cart_payment_collection cpc
      JOIN cart c ON c.id = cpc.cart_id AND c.deleted_at IS NULL
      WHERE cpc.payment_collection_id = pc.id AND cpc.deleted_at IS NULL
  )
"""

GET_COLLECTION_SALES_CHANNEL = """
SELECT o.sales_channel_id
FROM order_payment_collection opc
JOIN "order" o ON o.id = opc.order_id AND o.deleted_at IS NULL
WHERE opc.payment_collection_id = $1 AND opc.deleted_at IS NULL
ORDER BY opc.created_at DESC
LIMIT 1
"""

# A customer who registered (``has_account``): only they may save a card or have an account holder.
GET_CUSTOMER = "SELECT id, email, has_account FROM customer WHERE id = $1 AND deleted_at IS NULL"

GET_CART_SALES_CHANNEL = "SELECT sales_channel_id FROM cart WHERE id = $1 AND deleted_at IS NULL"

GET_PAYMENT_SESSION = """
SELECT
    ps.id,
    ps.payment_collection_id,
    ps.provider_id,
    COALESCE(ps.raw_amount->>'value', ps.amount::text) AS amount,
    ps.currency_code,
    ps.status,
    ps.data::text AS data,
    ps.authorized_at,
    link.cart_id
FROM payment_session ps
JOIN payment_collection pc ON pc.id = ps.payment_collection_id AND pc.deleted_at IS NULL
LEFT JOIN LATERAL (
    SELECT cpc.cart_id
    FROM cart_payment_collection cpc
    JOIN cart c ON c.id = cpc.cart_id AND c.deleted_at IS NULL
    WHERE cpc.payment_collection_id = ps.payment_collection_id AND cpc.deleted_at IS NULL
    ORDER BY cpc.created_at DESC
    LIMIT 1
) link ON TRUE
WHERE ps.id = $1 AND ps.deleted_at IS NULL
"""

# Medusa keeps a key with a future revoked_at working until then (revoke with `revoke_in`). The key's sales
# channels come along: a store route may only touch carts of one of them.
GET_PUBLISHABLE_KEY = """
SELECT
    k.id,
    k.title,
    COALESCE(
        (
            SELECT array_agg(l.sales_channel_id ORDER BY l.sales_channel_id)
            FROM publishable_api_key_sales_channel l
            WHERE l.publishable_key_id = k.id AND l.deleted_at IS NULL
        ),
        '{}'
    ) AS sales_channel_ids
FROM api_key k
WHERE k.token = $1
  AND k.type = 'publishable'
  AND (k.revoked_at IS NULL OR k.revoked_at > now())
  AND k.deleted_at IS NULL
"""

# The refunds Medusa holds for the payment it made from a session, oldest first. Medusa inserts a refund's row
# before it asks the provider (its id is the call's idempotency key) and deletes it if the provider fails.
GET_SESSION_REFUNDS = """
SELECT r.id, COALESCE(r.raw_amount->>'value', r.amount::text) AS amount
FROM payment p
JOIN refund r ON r.payment_id = p.id AND r.deleted_at IS NULL
WHERE p.payment_session_id = $1 AND p.deleted_at IS NULL
ORDER BY r.created_at, r.id
"""
