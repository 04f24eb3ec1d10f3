<?php

namespace App\Controller;

use Symfony\Bundle\FrameworkBundle\Controller\AbstractController;
use Symfony\Component\Form\Extension\Core\Type\SubmitType;
use Symfony\Component\Form\Extension\Core\Type\TextType;
use Symfony\Component\HttpFoundation\Cookie;
use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\HttpFoundation\RedirectResponse;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\Routing\Attribute\Route;
use Symfony\Component\Validator\Constraints\Length;
use Symfony\Component\Validator\Constraints\NotBlank;

final class PageController extends AbstractController
{
    #[Route('/', name: 'home', methods: ['GET', 'HEAD'])]
    public function home(): Response
    {
        return $this->render('home.html.twig');
    }

    /** A route parameter, in any script: /hello/Zoë (sent as /hello/Zo%C3%AB). */
    #[Route('/hello/{name}', name: 'hello', methods: ['GET', 'HEAD'])]
    public function hello(string $name): Response
    {
        return $this->render('hello.html.twig', ['name' => $name]);
    }

    /** An old address: 302 to the new one, the parameter carried over. */
    #[Route('/hi/{name}')]
    public function hi(string $name): RedirectResponse
    {
        return $this->redirectToRoute('hello', ['name' => $name]);
    }

    /** What Symfony makes of the request: path, query, scheme, host, port and client. */
    #[Route('/request/{path}', requirements: ['path' => '.*'], defaults: ['path' => ''], methods: ['GET'])]
    public function request(Request $request): JsonResponse
    {
        return new JsonResponse([
            'method' => $request->getMethod(),
            'uri' => $request->getRequestUri(),
            'query_string' => $request->server->get('QUERY_STRING'),
            'query' => $request->query->all(),
            'path' => $request->getPathInfo(),
            'url' => $request->getUri(),
            'secure' => $request->isSecure(),
            'host' => $request->getHost(),
            'port' => $request->getPort(),
            'ip' => $request->getClientIp(),
        ], 200, [], false);
    }

    /** A cookie set by one request and read by the next. */
    #[Route('/flavour', methods: ['GET'])]
    public function flavour(Request $request): JsonResponse
    {
        return new JsonResponse(['flavour' => $request->cookies->get('flavour')]);
    }

    #[Route('/flavour/{flavour}', methods: ['GET'])]
    public function setFlavour(string $flavour): JsonResponse
    {
        $response = new JsonResponse(['set' => $flavour]);
        $response->headers->setCookie(Cookie::create('flavour', $flavour, '+1 hour'));

        return $response;
    }

    /**
     * Notes kept in the session, through a form with a CSRF token: a valid POST redirects (302), one without
     * the token is answered 422 with the form and Symfony's "The CSRF token is invalid" error.
     */
    #[Route('/notes', name: 'notes', methods: ['GET', 'POST'])]
    public function notes(Request $request): Response
    {
        $form = $this->createFormBuilder()
            ->add('text', TextType::class, ['constraints' => [new NotBlank(), new Length(max: 200)]])
            ->add('save', SubmitType::class)
            ->getForm();
        $form->handleRequest($request);
        $session = $request->getSession();
        if ($form->isSubmitted() && $form->isValid()) {
            $session->set('notes', [...$session->get('notes', []), $form->get('text')->getData()]);
            $this->addFlash('status', 'Note saved.');

            return $this->redirectToRoute('notes');
        }

        return $this->render('notes.html.twig', ['form' => $form, 'notes' => $session->get('notes', [])]);
    }

    /** An uncaught exception: with APP_DEBUG=0 the client gets Symfony's plain 500 page, the log the trace. */
    #[Route('/boom', methods: ['GET'])]
    public function boom(): Response
    {
        throw new \RuntimeException('the example app failed on purpose');
    }
}
