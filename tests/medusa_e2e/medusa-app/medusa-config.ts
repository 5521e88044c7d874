// The Medusa application the end-to-end test boots: every value comes from the environment the test harness
// sets (tests/medusa_e2e/stack.py), and the only payment provider besides Medusa's own is the netvalve package
// built from medusa-payment-netvalve/ and installed from its `npm pack` tarball (scripts/medusa_e2e.sh), so that
// it shares this application's @medusajs/framework as it would in a shop.
import { defineConfig, loadEnv } from "@medusajs/framework/utils"

loadEnv(process.env.NODE_ENV || "development", process.cwd())

function required(name: string): string {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} must be set for the end-to-end Medusa application`)
  }
  return value
}

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: required("DATABASE_URL"),
    databaseDriverOptions: { ssl: false, sslmode: "disable" },
    http: {
      storeCors: required("STORE_CORS"),
      adminCors: required("ADMIN_CORS"),
      authCors: required("AUTH_CORS"),
      jwtSecret: required("JWT_SECRET"),
      cookieSecret: required("COOKIE_SECRET"),
    },
  },
  admin: { disable: true },
  modules: [
    {
      resolve: "@medusajs/medusa/payment",
      options: {
        providers: [
          {
            resolve: "medusa-payment-netvalve",
            id: "netvalve",
            options: {
              serviceUrl: required("NETVALVE_SERVICE_URL"),
              serviceApiKey: required("NETVALVE_SERVICE_API_KEY"),
              webhookSecret: required("NETVALVE_WEBHOOK_SECRET"),
              timeoutMs: Number(process.env.NETVALVE_TIMEOUT_MS ?? "15000"),
            },
          },
        ],
      },
    },
  ],
})
