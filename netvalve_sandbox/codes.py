"""NetValve response codes and messages, copied from NetValve's published error-code enum."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    "GTW_1000": "Transaction Approved/ Request Successful.",
    "GTW_1002": "Transaction status is Pending.",
    "GTW_1003": "Hosted Payment Fields Token Created Successful.",
    "GTW_2002": "Amount Value Missing /Invalid Value/ Amount Does Not Match",
    "GTW_2003": "Amount Value Should Be With Two Decimals.",
    "GTW_2004": "Amount Value Must Be A Positive Integer.",
    "GTW_2013": "Invalid Gateway Transaction Operation/ Invalid  GTO.",
    "GTW_2018": "Currency Value Missing. This Value Must Be Provided.",
    "GTW_2019": "Invalid Currency Code.",
    "GTW_2020": "Client Order Can Have 100 Characters Max.",
    "GTW_2023": "Card Expiry Month Is Missing. This Value Must Be Provided.",
    "GTW_2024": "Card Expiry Month Should Be Between 01 And 12.",
    "GTW_2032": "Card Number Is Missing. This Value Must Be Provided.",
    "GTW_2033": "Card Number Can Have 40 Characters Max.",
    "GTW_2034": "Card Number Invalid.",
    "GTW_2035": "Card Expiry Year Is Missing. This Value Must Be Provided.",
    "GTW_2038": (
        "Invalid Value/ Amount Does Not Match/ Captured Amount Must Be Equal To Reference Transaction Amount."
    ),
    "GTW_2045": "Transaction Already Refunded.",
    "GTW_2046": "Transaction Already Captured.",
    "GTW_2047": "Transaction Already Cancelled.",
    "GTW_2048": "Transaction ID Is Missing. This Value Must Be Provided.",
    "GTW_2049": "Transaction Status Pending.",
    "GTW_2059": "Amount should be less than maximum allowed.",
    "GTW_2062": "Transaction Type/mode must be any of this values [SALE, AUTHORIZATION]",
    "GTW_2063": "Invalid Value / Null Value",
    "GTW_2065": "Client Order Id Duplicate or Invalid . Kindly contact NetValve support.",
    "GTW_2066": "Card Expiry Year Should Be Between 2000 And 2999.",
    "GTW_2070": "Order already paid.",
    "GTW_2075": "This Field is not valid URL!",
    "GTW_2081": "Recurring not allowed as parent transaction not marked for Recurring.",
    "GTW_2082": "Invalid Client ID. Kindly contact NetValve support.",
    "GTW_2085": "MID id field is required.",
    "GTW_2092": "Payment Type field is required.",
    "GTW_2093": "PaymentType must be any of this values [CARD, WALLET, TOKEN]",
    "GTW_2103": "Reference Transaction Not Found .",
    "GTW_2108": "Refund amount should not exceed the remaining amount.",
    "GTW_2123": "Partial capture not allowed for transaction.",
    "GTW_2124": "Partial capture amount should not exceed the authorized amount.",
    "GTW_9001": "Authentication failure! Kindly contact NetValve support.",
    "GTW_9003": "This payment option is not supported for your account, please contact NetValve support",
    "GTW_9999": "Transaction Processing Error",
    "BNK_2000": "Refer To Card Issuer.",
    "BNK_2001": "Amount No Longer Available.",
    "BNK_2003": "Authorization Declined.",
    "BNK_2004": "Expired Card.",
    "BNK_2005": "Do Not Honour",
    "BNK_2011": "Insufficient Funds",
    "BNK_3002": "Lost Card - Pick Up",
    "BNK_3003": "Stolen Card - Pick Up",
    "BNK_3004": "Suspected Fraud",
    "3DS_1000": "3DS Request Successful.",
    "3DS_2001": "3DS Transaction Not Found.",
    "3DS_2005": "3DS Authentication Failed.",
    "3DS_2009": "3DS Provider Error.",
    "3DS_2011": "3DS ACS not completed by user or authentication attempted.",
}

APPROVED = "GTW_1000"
PENDING = "GTW_1002"


def code_type(code: str) -> str:
    """`responseCodeType` for a code, from NetValve's documented number ranges."""
    if code == PENDING:
        return "PENDING"
    number = int(code.partition("_")[2])
    if number < 2000:
        return "APPROVED"
    if number < 3000:
        return "SOFT DECLINE"
    return "HARD DECLINE"


def is_decline_code(code: str) -> bool:
    return code in MESSAGES and code_type(code) in {"SOFT DECLINE", "HARD DECLINE"}
