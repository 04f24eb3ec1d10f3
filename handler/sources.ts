import type { EventAdapter } from './adapter.ts';
import { alb } from './alb.ts';
import { apiGatewayV1 } from './api-gateway-v1.ts';
import { apiGatewayV2 } from './api-gateway-v2.ts';

/**
 * Every HTTP event source, tried in this order by each adapter's cheap shape test: ALB first, because an
 * ALB event also has `httpMethod` and `path` like a REST one.
 */
export const ADAPTERS: readonly EventAdapter[] = [alb, apiGatewayV2, apiGatewayV1] as readonly EventAdapter[];
