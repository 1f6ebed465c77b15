import { authenticate, publicUser } from "@/lib/auth";
import { route } from "@/lib/http";

export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  return Response.json({ user: publicUser(user) });
});
