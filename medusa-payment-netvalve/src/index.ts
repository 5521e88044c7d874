import { ModuleProvider, Modules } from "@medusajs/framework/utils";

import { NetValveProviderService } from "./service";

export { NetValveProviderService } from "./service";
export type { NetValveOptions } from "./options";
export { toDecimalString } from "./money";

export default ModuleProvider(Modules.PAYMENT, { services: [NetValveProviderService] });
