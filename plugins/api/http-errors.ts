/**
 * Client mistakes as coded 4xx errors. Thrown from a route, they reach the one
 * error handler in broker/http.ts, which answers `{"error": code, "message"}`
 * with the status (docs/http-api.md: never a 500 for a client's mistake).
 */
export class ApiError extends Error {
  readonly statusCode: number
  readonly vigilCode: string
  constructor (statusCode: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.statusCode = statusCode
    this.vigilCode = code
  }
}

export const badRequest = (code: string, message: string): ApiError => new ApiError(400, code, message)
