/**
 * Request and response classes for the gateway's HTTP server whose prototypes are already the Express app's
 * (app.request, app.response).
 *
 * Express gives every request and response its prototype with Object.setPrototypeOf, once per request. V8 then
 * treats each of them as an object of a new shape, and node:http's own code that touches them afterwards (headers,
 * writeHead, the socket writes) runs without its inline caches. On the development machine that cost about 70 µs of
 * CPU per request, three times what the rest of Express costs (bench/http-stack.ts measures both). A server that
 * creates them with that prototype from the start leaves Express's setPrototypeOf nothing to change: V8 returns
 * early when the prototype is already the one asked for. Everything else is as before: req is still an
 * http.IncomingMessage and res an http.ServerResponse, with Express's methods on their prototype chain.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Express } from 'express';

type Construct = (this: unknown, ...args: unknown[]) => void;

export interface MessageClasses {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
}

/** The IncomingMessage/ServerResponse options of http(s).createServer for `app`. */
export function expressMessageClasses(app: Pick<Express, 'request' | 'response'>): MessageClasses {
  function ExpressRequest(this: unknown, socket: Socket): void {
    (IncomingMessage as unknown as Construct).call(this, socket);
  }
  ExpressRequest.prototype = app.request;
  function ExpressResponse(this: unknown, req: IncomingMessage, options?: unknown): void {
    (ServerResponse as unknown as Construct).call(this, req, options);
  }
  ExpressResponse.prototype = app.response;
  return {
    IncomingMessage: ExpressRequest as unknown as typeof IncomingMessage,
    ServerResponse: ExpressResponse as unknown as typeof ServerResponse,
  };
}
