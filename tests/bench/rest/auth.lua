-- wrk script: every request carries the bench user's access token (SP_TOKEN).
local token = os.getenv("SP_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
